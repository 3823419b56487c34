/**
 * Kill/resume equality: a training process is SIGKILLed after it has written a checkpoint, started
 * again (it resumes from the newest complete checkpoint) and run to the end; its final parameters and
 * optimizer state must equal, bit for bit, those of a run that was never interrupted.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type StartedProcess, startProcess } from '@gopo/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointName, findLatestCheckpoint, loadCheckpoint } from '../src/checkpoint.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = join(here, '..');
const STEPS = 24;
const EVERY = 4;

function startChild(dir: string, delayMs: number): Promise<StartedProcess> {
  return startProcess(
    [
      '--conditions=@gopo/source',
      '--import',
      'tsx',
      join(here, 'resume-child.ts'),
      '--dir',
      dir,
      '--steps',
      String(STEPS),
      '--every',
      String(EVERY),
      '--delay-ms',
      String(delayMs),
    ],
    { cwd: packageRoot },
  );
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const bitsEqual = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('kill/resume', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('a SIGKILLed run resumed from its latest checkpoint ends bit-identical to an uninterrupted run', async () => {
    const root = await mkdtemp(join(tmpdir(), 'gopo-nn-resume-'));
    dirs.push(root);
    const killedDir = join(root, 'killed');
    const refDir = join(root, 'reference');

    // The uninterrupted reference runs alongside the run that gets killed.
    const reference = await startChild(refDir, 0);
    const victim = await startChild(killedDir, 60);
    // Kill once a checkpoint past the first exists, while later steps are still to come.
    await waitFor(async () => existsSync(join(killedDir, checkpointName(2 * EVERY))), 15_000);
    victim.child.kill('SIGKILL');
    const killed = await victim.done;
    expect(killed.signal).toBe('SIGKILL');
    const atKill = await findLatestCheckpoint(killedDir);
    expect(atKill).toBeDefined();
    // The kill may land inside a save (after its folder is renamed into place, before `latest` moves):
    // the resume point is then the checkpoint before it, which must work just as well.
    const stepAtKill = (await loadCheckpoint(atKill as string)).state.step;
    expect(stepAtKill).toBeGreaterThanOrEqual(EVERY);
    expect(stepAtKill).toBeLessThan(STEPS);
    expect(await readdir(killedDir)).not.toContain(checkpointName(STEPS));

    const resumed = await (await startChild(killedDir, 0)).done;
    expect(resumed.code, resumed.out).toBe(0);
    expect(resumed.out).toContain(`resumed ${stepAtKill}`);
    expect(resumed.out).toContain(`step ${STEPS} `);
    const ref = await reference.done;
    expect(ref.code, ref.out).toBe(0);

    const a = await loadCheckpoint(join(killedDir, checkpointName(STEPS)));
    const b = await loadCheckpoint(join(refDir, checkpointName(STEPS)));
    expect(a.state.rng).toEqual(b.state.rng);
    expect(a.state.lrSchedule).toEqual(b.state.lrSchedule);
    expect([...a.params.keys()].sort()).toEqual([...b.params.keys()].sort());
    expect(a.optimizerState.size).toBe(b.optimizerState.size);
    for (const [name, t] of b.params)
      expect(bitsEqual(a.params.get(name)?.data as ArrayBufferView, t.data), name).toBe(true);
    for (const [name, t] of b.optimizerState)
      expect(bitsEqual(a.optimizerState.get(name)?.data as ArrayBufferView, t.data), name).toBe(true);
    // The losses the resumed run printed after the checkpoint are those of the reference run.
    const lossAt = (out: string, step: number) =>
      new RegExp(`^step ${step} loss (\\S+)$`, 'm').exec(out)?.[1];
    for (let s = stepAtKill + 1; s <= STEPS; s++)
      expect(lossAt(resumed.out, s), `step ${s}`).toBe(lossAt(ref.out, s));
  }, 30_000);
});
