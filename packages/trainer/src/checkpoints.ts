/**
 * Phase checkpoints of the trainer's loops: an updater's snapshot (weights, optimizer state, step
 * count, RNG) plus the number of phases done and a few scalars, through nn's atomic checkpoint folders.
 */
import * as path from 'node:path';
import {
  findLatestCheckpoint,
  loadCheckpoint,
  readTrainerState,
  saveCheckpoint,
  TRAINER_STATE_FILE,
  type TrainerSnapshot,
  toHostTensor,
  toSafetensorsTensor,
} from '@gopo/nn';
import type { KlController } from '@gopo/rewards';

export interface PhaseCheckpoint {
  readonly snapshot: TrainerSnapshot;
  readonly phases: number;
  readonly scalars: Readonly<Record<string, number>>;
}

/** Saves the state after `phases` phases (the newest `keep` checkpoints are kept). */
export async function savePhaseCheckpoint(
  dir: string,
  snapshot: TrainerSnapshot,
  phases: number,
  scalars: Readonly<Record<string, number>>,
  resumeKey: string,
  keep: number,
): Promise<void> {
  await saveCheckpoint(
    dir,
    {
      params: new Map([...snapshot.params].map(([k, v]) => [k, toSafetensorsTensor(v)])),
      optimizerState: new Map([...snapshot.optimizerState].map(([k, v]) => [k, toSafetensorsTensor(v)])),
      state: {
        step: phases,
        rng: snapshot.rng,
        lrSchedule: { step: snapshot.step, lastLr: snapshot.lastLr },
        metrics: { ...scalars },
        config: { resumeKey },
      },
    },
    { keep },
  );
}

/** The phases the newest complete checkpoint of `dir` holds (0 without one); reads no tensors. */
export async function checkpointedPhases(dir: string): Promise<number> {
  const latest = await findLatestCheckpoint(dir);
  return latest ? (await readTrainerState(path.join(latest, TRAINER_STATE_FILE))).step : 0;
}

/** The newest complete checkpoint of `dir`, if any. */
export async function loadPhaseCheckpoint(
  dir: string,
): Promise<(PhaseCheckpoint & { path: string }) | undefined> {
  const latest = await findLatestCheckpoint(dir);
  if (!latest) return undefined;
  const ck = await loadCheckpoint(latest);
  const scalars: Record<string, number> = {};
  for (const [k, v] of Object.entries(ck.state.metrics)) if (typeof v === 'number') scalars[k] = v;
  return {
    path: latest,
    phases: ck.state.step,
    scalars,
    snapshot: {
      params: new Map([...ck.params].map(([k, v]) => [k, toHostTensor(v)])),
      optimizerState: new Map([...ck.optimizerState].map(([k, v]) => [k, toHostTensor(v)])),
      step: ck.state.lrSchedule.step,
      rng: ck.state.rng as [number, number, number, number],
      lastLr: ck.state.lrSchedule.lastLr,
    },
  };
}

/** An updater whose state a phase checkpoint holds (CsUpdater, ExpertUpdater, nn's trainers). */
export interface PhaseStateful {
  exportState(): Promise<TrainerSnapshot>;
  importState(snapshot: TrainerSnapshot): Promise<void>;
}

/**
 * The phase checkpoint of KL-penalised training: the updater's state and the KL controller's beta,
 * which an adaptive controller has moved since the start and a resume must not reset.
 */
export async function saveKlPhaseCheckpoint(
  dir: string,
  updater: PhaseStateful,
  kl: KlController,
  phases: number,
  resumeKey: string,
  keep: number,
): Promise<void> {
  await savePhaseCheckpoint(dir, await updater.exportState(), phases, { klBeta: kl.value }, resumeKey, keep);
}

/**
 * Restores the newest checkpoint saveKlPhaseCheckpoint wrote into `updater` and `kl`; returns the
 * phases it holds and its folder name, or undefined (nothing changed) when `dir` has none.
 */
export async function resumeKlPhaseCheckpoint(
  dir: string,
  updater: PhaseStateful,
  kl: KlController,
): Promise<{ readonly phases: number; readonly name: string } | undefined> {
  const latest = await loadPhaseCheckpoint(dir);
  if (!latest) return undefined;
  await updater.importState(latest.snapshot);
  kl.restore({ value: latest.scalars.klBeta ?? kl.value });
  return { phases: latest.phases, name: path.basename(latest.path) };
}
