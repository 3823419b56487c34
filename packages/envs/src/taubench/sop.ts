import { fileURLToPath } from 'node:url';
import { loadSopSync, type Sop } from '@gopo/dialogue';
import { RETAIL_TOOL_NAMES } from './tools.js';

/** The tau-bench retail policy as an SOP (authenticate first, one user, confirmation before each write). */
export const RETAIL_SOP_FILE = fileURLToPath(new URL('../../sop/taubench-retail.sop.yaml', import.meta.url));

/** The SOP strategy of a reply to the user. */
export const RETAIL_REPLY_STRATEGY = 'respond';

let cached: Sop | undefined;
/** The retail SOP, loaded and checked once (every tool and `respond` must be in its strategy set). */
export function retailSop(): Sop {
  if (cached) return cached;
  const sop = loadSopSync(RETAIL_SOP_FILE, 'tau-bench retail SOP');
  const missing = [RETAIL_REPLY_STRATEGY, ...RETAIL_TOOL_NAMES].filter((s) => !sop.strategies.includes(s));
  if (missing.length) throw new RangeError(`${RETAIL_SOP_FILE}: strategy set lacks ${missing.join(', ')}`);
  cached = sop;
  return sop;
}
