// Regenerates assets/default-tokenizer.json (pnpm --filter @gopo/lm run make-tokenizer).
import { writeFileAtomic } from '@gopo/core';
import { buildDefaultTokenizerJsonText, DEFAULT_TOKENIZER_PATH } from '../src/tokenizer/default-tokenizer.js';

const text = buildDefaultTokenizerJsonText();
await writeFileAtomic(DEFAULT_TOKENIZER_PATH, text);
console.log(`wrote ${DEFAULT_TOKENIZER_PATH} (${Buffer.byteLength(text)} bytes)`);
