/**
 * Scripted dialogues per second on one core (target: at least 2,000). Each policy plays the same
 * scenarios after a warm-up; a second row per run adds schema validation and JSON serialisation,
 * which is what `gopo simulate` does per session. Rates are per CPU-second of this (single-threaded)
 * process, so a busy machine does not distort them; wall-clock rates are recorded beside them.
 * Writes bench-results/simulate.{json,md}.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { SessionSchema } from '@gopo/dialogue';
import { POLICY_NAMES, ShopEnv, shopPolicies, simulate, summarize } from '@gopo/envs';

const TARGET = 2000;
const N = Number(process.env.BENCH_DIALOGUES ?? 5000);
const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, '..', 'bench-results');

interface Row {
  readonly name: string;
  readonly dialogues: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly dialoguesPerSecond: number;
  readonly dialoguesPerWallSecond: number;
  readonly agentTurnsPerSecond: number;
  readonly successRate: number;
  readonly meanAgentTurns: number;
  readonly ratioToTarget: number;
}

const env = new ShopEnv();
const rows: Row[] = [];
for (const name of POLICY_NAMES) {
  const policy = shopPolicies.get(name);
  simulate(policy, { scenarios: 300, seed: 999 }, env); // warm-up (JIT)
  for (const withIo of [false, true]) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let bytes = 0;
    const sessions = simulate(
      policy,
      {
        scenarios: N,
        seed: 1,
        onSession: withIo
          ? (s) => {
              SessionSchema.parse(s);
              bytes += JSON.stringify(s).length;
            }
          : undefined,
      },
      env,
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const sum = summarize(sessions);
    const dps = N / cpuSeconds;
    rows.push({
      name: withIo ? `${name} + validate + serialise` : name,
      dialogues: N,
      seconds,
      cpuSeconds,
      dialoguesPerSecond: dps,
      dialoguesPerWallSecond: N / seconds,
      agentTurnsPerSecond: (sum.meanAgentTurns * N) / cpuSeconds,
      successRate: sum.successRate,
      meanAgentTurns: sum.meanAgentTurns,
      ratioToTarget: dps / TARGET,
    });
    if (withIo && bytes === 0) throw new Error('nothing serialised');
  }
}

const meta = {
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: 1,
  target: TARGET,
  date: new Date().toISOString(),
};
await writeJsonAtomic(path.join(outDir, 'simulate.json'), { meta, rows });
const table = [
  `# Shop simulator throughput (one core, ${meta.cpu}, Node ${meta.node})`,
  '',
  '| run | dialogues/CPU-s | dialogues/wall-s | agent turns/CPU-s | x target (2,000/s) | success | mean agent turns |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.dialoguesPerSecond.toFixed(0)} | ${r.dialoguesPerWallSecond.toFixed(0)} | ${r.agentTurnsPerSecond.toFixed(0)} | ${r.ratioToTarget.toFixed(2)} | ${(100 * r.successRate).toFixed(1)}% | ${r.meanAgentTurns.toFixed(2)} |`,
  ),
  '',
].join('\n');
await writeFileAtomic(path.join(outDir, 'simulate.md'), table);
console.log(table);
