/**
 * JOSH with an agent behind an OpenAI-compatible server: the stub server answers each request with
 * the noisy ToolWOZ oracle's step for the dialogue it is sent (it reads the live environment's goal
 * in-process, as a strong model would infer it), so the whole path runs: view -> request in the
 * function-calling format -> answer -> step -> environment, through branching and replay.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { resolveDataDir, silentLogger } from '@gopo/core';
import { assistantMessage, type ToolAgentView } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import { JoshConfigSchema } from './config.js';
import { noisyScriptedPolicy } from './noisy-policy.js';
import { runJosh } from './run.js';
import { toolwozJoshTask } from './tasks.js';

const dataDir = resolveDataDir();

describe.skipIf(!dataDir)('JOSH self-play with an OpenAI-compatible agent', () => {
  it('branches on the server answers and writes SFT and KTO data from its golden paths', async () => {
    const requests: Record<string, unknown>[] = [];
    const c0 = JoshConfigSchema.parse({ goals: { train: 3, eval: 1 } });
    const task = await toolwozJoshTask(dataDir!, c0, 1);
    const oracle = noisyScriptedPolicy(task.policies.get('oracle'), 0.3);
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
      });
      req.on('end', async () => {
        const body = JSON.parse(raw) as {
          messages: ToolAgentView['messages'];
          tools: ToolAgentView['tools'];
          seed: number;
        };
        requests.push(body);
        const [system, ...messages] = body.messages;
        const view = { system: String(system!.content), tools: body.tools, messages };
        const step = await oracle.create(task.env.privileged(), body.seed).act(view);
        const message = { ...assistantMessage(step.action), ...(step.plan ? { content: step.plan } : {}) };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ index: 0, message }] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      const c = JoshConfigSchema.parse({
        goals: { train: 3, eval: 1 },
        agent: { kind: 'openai', baseUrl, model: 'stub', apiKeyEnv: 'GOPO_TEST_NO_KEY' },
      });
      const runsDir = mkdtempSync(path.join(tmpdir(), 'gopo-josh-openai-'));
      const r = await runJosh(task, c, {
        runName: 'j',
        runsDir,
        seed: 1,
        env: 'toolwoz',
        overwrite: false,
        logger: silentLogger(),
        progress: false,
        until: 'selfplay',
      });
      expect(r.selfplay.successes).toBeGreaterThan(0);
      expect(r.selfplay.expansions).toBeGreaterThan(3);
      // Every sampled step went through the server, with the tools, the seed and the branch temperature.
      expect(requests.length).toBeGreaterThanOrEqual(r.selfplay.expansions);
      for (const q of requests) {
        expect(q).toMatchObject({ model: 'stub', temperature: 1, parallel_tool_calls: false });
        expect((q.tools as unknown[]).length).toBeGreaterThan(0);
        expect(typeof q.seed).toBe('number');
      }
      const sft = readFileSync(path.join(r.runDir, 'data', 'josh-sft.jsonl'), 'utf8')
        .trim()
        .split('\n');
      expect(sft.length).toBeGreaterThan(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 120_000);
});
