/**
 * The benchmark model's train step on every execution provider that works here, against the CPU
 * step in the same run: ms per step, tokens/s, speed-up over CPU, and the first steps' losses next
 * to the CPU ones (same seed and batch, so they should agree to float32 rounding). Providers that do
 * not work are listed with the reason; a software WebGPU adapter (no GPU device, e.g. Mesa's lavapipe)
 * is labelled emulated. On webgpu, parameters and optimizer state stay on the device
 * between steps; each step still reads its loss back, so the timing includes one sync per step.
 * Writes bench-results/provider-step.json and .md.
 *
 *   pnpm bench:providers        (BENCH_STEPS timed steps, BENCH_QUICK=1 for the small model)
 */
import { detectProviders, type ProviderName, type StepResult, Trainer } from '../src/index.js';
import {
  B,
  batchSpec,
  benchTrainerConfig,
  cfg,
  lossModel,
  quick,
  T,
  threads,
  tokenIds,
  writeBenchResults,
} from './bench-model.js';

const steps = Number(process.env.BENCH_STEPS ?? (quick ? 5 : 20));
const checkedSteps = 3;

interface ProviderRun {
  provider: ProviderName;
  compileSeconds: number;
  /** Timed steps (fewer on an emulated adapter). */
  timedSteps: number;
  secondsPerStep: number;
  tokensPerSecond: number;
  /** Losses of the first steps from the common initial state (compare across providers). */
  losses: number[];
}

async function runOn(provider: ProviderName, timedSteps: number): Promise<ProviderRun> {
  const t0 = performance.now();
  const trainer = await Trainer.create(lossModel, batchSpec, {
    ...benchTrainerConfig,
    seed: 0,
    provider,
    intraOpThreads: threads,
  });
  const compileSeconds = (performance.now() - t0) / 1000;
  const batch = { ids: tokenIds(1), targets: tokenIds(2) };
  const first: StepResult[] = [];
  for (let i = 0; i < checkedSteps; i++) first.push(await trainer.trainStep(batch));
  const times: number[] = [];
  for (let i = 0; i < timedSteps; i++) {
    const s = performance.now();
    await trainer.trainStep(batch);
    times.push((performance.now() - s) / 1000);
  }
  // The median: a GPU step is short enough that one outlier would move a mean.
  const sorted = [...times].sort((a, b) => a - b);
  const secondsPerStep = sorted[Math.floor(sorted.length / 2)] as number;
  return {
    provider,
    compileSeconds,
    timedSteps,
    secondsPerStep,
    tokensPerSecond: (B * T) / secondsPerStep,
    losses: first.map((r) => r.loss),
  };
}

async function main(): Promise<void> {
  const statuses = await detectProviders();
  const label = (p: ProviderName) =>
    statuses.find((s) => s.provider === p)?.emulated ? `${p} (emulated adapter: no GPU device)` : p;
  for (const s of statuses)
    console.log(`${label(s.provider)}: ${s.available ? 'available' : `unavailable (${s.reason})`}`);
  const runs: ProviderRun[] = [];
  // A software adapter's timing says nothing about a GPU; its losses are the useful part.
  for (const s of statuses)
    if (s.available) runs.push(await runOn(s.provider, s.emulated ? Math.min(steps, 3) : steps));
  const cpu = runs.find((r) => r.provider === 'cpu') as ProviderRun;
  const rows = runs.map((r) => ({
    ...r,
    speedupOverCpu: cpu.secondsPerStep / r.secondsPerStep,
    maxLossRelDiffFromCpu: Math.max(
      ...r.losses.map((l, i) => Math.abs(l - (cpu.losses[i] as number)) / Math.abs(cpu.losses[i] as number)),
    ),
  }));
  const result = {
    date: new Date().toISOString(),
    model: { ...cfg, batch: B, context: T },
    cpuThreads: threads,
    timedSteps: steps,
    providers: statuses,
    runs: rows,
  };
  const table = [
    '| provider | ms/step (median) | tokens/s | speed-up over cpu | first-step losses (max rel. diff from cpu) |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${label(r.provider)} | ${(r.secondsPerStep * 1000).toFixed(1)} | ${r.tokensPerSecond.toFixed(0)} | ${r.speedupOverCpu.toFixed(2)} | ${r.losses.map((l) => l.toFixed(5)).join(', ')} (${r.maxLossRelDiffFromCpu.toExponential(1)}) |`,
    ),
    ...statuses.filter((s) => !s.available).map((s) => `| ${s.provider} | unavailable: ${s.reason} | | | |`),
  ].join('\n');
  await writeBenchResults('provider-step', result, table);
}

await main();
