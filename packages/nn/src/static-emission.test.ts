/**
 * Fully static graphs must emit the same ONNX bytes as before symbolic dims existed: the hashes in
 * __fixtures__/static-emission.json were written by the code of that time. A legitimate change to
 * what a module emits updates them with `GOPO_UPDATE_FIXTURES=1 npx vitest run
 * packages/nn/src/static-emission.test.ts` (and says why in the change).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitModel } from './emit.js';
import { Graph } from './graph.js';
import { crossEntropy } from './losses.js';
import { dropout, linear, mlp, transformerLM } from './modules.js';
import { randomInput } from './trainer.js';

const FIXTURE = join(import.meta.dirname, '__fixtures__', 'static-emission.json');

function hashOf(build: (g: Graph) => void): string {
  const g = new Graph({ name: 'static' });
  build(g);
  return createHash('sha256').update(emitModel(g).bytes).digest('hex');
}

const MODELS: Record<string, (g: Graph) => void> = {
  // RMSNorm / SwiGLU / GQA / RoPE with a key mask and the loss.
  llamaLike: (g) => {
    const ids = g.input('ids', 'int64', [2, 5]);
    const targets = g.input('targets', 'int64', [2, 5]);
    const keyMask = g.input('key_mask', 'bool', [2, 5]);
    const logits = transformerLM(
      g,
      ids,
      { vocabSize: 11, dModel: 8, numLayers: 2, numHeads: 2, numKvHeads: 1 },
      { keyMask },
    );
    g.output('logits', logits);
    g.output('loss', crossEntropy(g, logits, targets, { labelSmoothing: 0.1 }));
  },
  // LayerNorm / tanh-GELU / tied head, explicit positions and a block mask.
  gptLike: (g) => {
    const ids = g.input('ids', 'int64', [3, 4]);
    const positions = g.input('positions', 'int64', [3, 4]);
    const attendMask = g.input('attend', 'bool', [3, 4, 4]);
    g.output(
      'logits',
      transformerLM(
        g,
        ids,
        {
          vocabSize: 9,
          dModel: 8,
          numLayers: 1,
          numHeads: 2,
          norm: 'layernorm',
          mlp: 'gelu',
          activation: 'gelu_tanh',
          tieEmbeddings: true,
          maxPositions: 8,
        },
        { positions, attendMask },
      ),
    );
  },
  // float64 exact GELU (series erf), LoRA adapter with dropout, slices and reductions.
  mlpFloat64: (g) => {
    const x = g.input('x', 'float64', [4, 6]);
    const h = mlp(g, 'mlp', x, 12, { activation: 'gelu', bias: true });
    const y = linear(g, 'head', dropout(g, h, 0.1, randomInput(g, h.shape)), 3, {
      adapter: { r: 2, alpha: 4, dropout: 0.2 },
      dtype: 'float64',
    });
    g.output('y', g.reduceMean(g.slice(y, [1], [3], [0]), [0], true));
    g.output('m', g.reduceMax(g.softmax(y, -1), [1]));
  },
};

describe('static graphs emit exactly what they emitted before symbolic dims', () => {
  it('hashes of representative static models match the fixture', () => {
    const hashes = Object.fromEntries(Object.entries(MODELS).map(([k, build]) => [k, hashOf(build)]));
    if (process.env.GOPO_UPDATE_FIXTURES === '1')
      writeFileSync(FIXTURE, `${JSON.stringify(hashes, null, 2)}\n`);
    expect(hashes).toEqual(JSON.parse(readFileSync(FIXTURE, 'utf8')));
  });
});
