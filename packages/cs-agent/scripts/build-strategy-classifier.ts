// Rebuilds assets/strategy-classifier/ from SHIPPED_CLASSIFIER_RECIPE (deterministic: the same files
// every time): pnpm --filter @gopo/cs-agent run build-classifier
import { rm } from 'node:fs/promises';
import { buildShippedClassifier, SHIPPED_CLASSIFIER_DIR } from '../src/shipped-classifier.js';

const t0 = Date.now();
const { classifier, metrics } = await buildShippedClassifier((step, loss) =>
  console.log(`step ${step}: loss ${loss.toFixed(4)}`),
);
await rm(SHIPPED_CLASSIFIER_DIR, { recursive: true, force: true });
await classifier.save(SHIPPED_CLASSIFIER_DIR);
console.log(JSON.stringify(metrics, null, 2));
console.log(`wrote ${SHIPPED_CLASSIFIER_DIR} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
