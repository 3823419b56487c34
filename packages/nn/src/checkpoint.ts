/**
 * Training checkpoints. A run's checkpoint folder looks like:
 *
 *   checkpoints/
 *     latest                 one line: the name of the most recently saved checkpoint
 *     step-00000200/
 *       model.safetensors    parameters, Hugging Face names (metadata {"format": "pt"})
 *       optimizer.safetensors optimizer state tensors, names chosen by the caller ("<param>.exp_avg", ...)
 *       trainer_state.json   step, RNG state, LR-schedule position, metrics, config snapshot
 *
 * A save writes everything into a hidden temporary folder, fsyncs the files and the folder, then renames
 * it into place and repoints `latest` atomically, so a crash at any moment leaves every earlier
 * checkpoint intact and at worst a `.tmp-*` folder that readers ignore and `pruneCheckpoints` removes.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  ensureDir,
  FileFormatError,
  MissingFileError,
  processAlive,
  type RngState,
  trackTempFile,
  UsageError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@gopo/core';
import { z } from 'zod';
import type { HostTensor } from './runtime.js';
import {
  readSafetensors,
  readSafetensorsHeader,
  type SafetensorsTensor,
  type TensorCollection,
  writeSafetensors,
} from './safetensors.js';

export const CHECKPOINT_FORMAT_VERSION = 1;
export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const LATEST_FILE = 'latest';

const uint32 = z.number().int().min(0).max(0xffffffff);

/** trainer_state.json: everything besides tensors needed to resume a run exactly. */
export const TrainerStateSchema = z
  .object({
    formatVersion: z
      .literal(CHECKPOINT_FORMAT_VERSION)
      .describe('version of this checkpoint layout; readers refuse versions they do not know'),
    step: z.number().int().nonnegative().describe('optimizer steps completed when the checkpoint was taken'),
    rng: z
      .tuple([uint32, uint32, uint32, uint32])
      .describe('state of the run RNG as four uint32 words (Rng.state() / Rng.fromState())'),
    lrSchedule: z
      .object({
        step: z
          .number()
          .int()
          .nonnegative()
          .describe('scheduler steps taken (may differ from step under accumulation)'),
        lastLr: z.number().nonnegative().describe('learning rate used by the last step'),
      })
      .strict()
      .describe('position of the learning-rate schedule'),
    metrics: z
      .record(z.string(), z.json())
      .default({})
      .describe(
        'free-form metrics at save time, e.g. {"loss/gopo": 0.41}; NaN is not JSON and must be stored as null',
      ),
    config: z
      .record(z.string(), z.json())
      .default({})
      .describe('snapshot of the resolved run config, so a checkpoint explains itself'),
  })
  .strict()
  .describe('trainer_state.json of a GOPO checkpoint');

export type TrainerState = z.infer<typeof TrainerStateSchema>;
/** What callers pass: formatVersion is filled in; metrics and config default to {}; `rng` is `Rng.state()`. */
export type TrainerStateInput = Omit<z.input<typeof TrainerStateSchema>, 'formatVersion' | 'rng'> & {
  readonly rng: RngState;
};

export interface CheckpointData {
  readonly params: TensorCollection;
  readonly optimizerState: TensorCollection;
  readonly state: TrainerStateInput;
}

export interface LoadedCheckpoint {
  /** Folder the checkpoint was read from. */
  readonly path: string;
  readonly params: Map<string, SafetensorsTensor>;
  readonly optimizerState: Map<string, SafetensorsTensor>;
  readonly state: TrainerState;
  readonly modelMetadata: Record<string, string>;
}

export interface SaveCheckpointOptions {
  /** After saving, keep only this many newest checkpoints (see `pruneCheckpoints`); omit to keep all. */
  readonly keep?: number;
  /** Extra `__metadata__` for model.safetensors; `format: "pt"` is always set so HF loaders accept it. */
  readonly modelMetadata?: Readonly<Record<string, string>>;
}

const STEP_DIR = /^step-(\d+)$/;
const TMP_PREFIX = '.tmp-';
const TRASH_PREFIX = '.trash-';

/** A float32 host tensor as a safetensors entry (what checkpoints store). */
export function toSafetensorsTensor(t: HostTensor): SafetensorsTensor {
  if (t.dtype !== 'float32') throw new UsageError(`cannot checkpoint ${t.dtype} tensors`);
  return { dtype: 'F32', shape: [...t.dims], data: t.data as Float32Array };
}

/** A checkpoint's F32 safetensors entry as a host tensor (what a Trainer imports). */
export function toHostTensor(t: SafetensorsTensor): HostTensor {
  if (t.dtype !== 'F32') throw new UsageError(`checkpoint tensor has dtype ${t.dtype}, expected F32`);
  return { dtype: 'float32', dims: [...t.shape], data: t.data };
}

/** Folder name of the checkpoint for `step`: zero-padded so names also sort by step. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

async function fsyncDir(dir: string): Promise<void> {
  // Persists the renames done inside `dir`. Some platforms (Windows) cannot open folders; there the
  // rename itself is all we can do.
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // best effort, see above
  } finally {
    await handle?.close();
  }
}

/**
 * Saves a checkpoint under `dir` (created if needed) and returns its folder. Saving a step that already
 * exists replaces it. With `keep`, older checkpoints beyond the newest `keep` are removed afterwards.
 */
export async function saveCheckpoint(
  dir: string,
  data: CheckpointData,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  if (options.keep !== undefined && (!Number.isInteger(options.keep) || options.keep < 1)) {
    throw new UsageError(`keep must be a positive integer, got ${options.keep}`);
  }
  const parsed = TrainerStateSchema.safeParse({
    ...data.state,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    rng: [...data.state.rng],
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    throw new UsageError(`invalid trainer state at ${field.join('.') || '(root)'}: ${issue.message}`);
  }
  const state = parsed.data;
  const name = checkpointName(state.step);
  ensureDir(dir);
  const tmp = path.join(dir, `${TMP_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  // A staging folder as big as the checkpoint: removed on SIGINT/SIGTERM like a temporary file.
  const release = trackTempFile(tmp);
  try {
    await writeSafetensors(path.join(tmp, MODEL_FILE), data.params, {
      metadata: { ...options.modelMetadata, format: 'pt' },
    });
    await writeSafetensors(path.join(tmp, OPTIMIZER_FILE), data.optimizerState, {
      metadata: { step: String(state.step) },
    });
    await writeJsonAtomic(path.join(tmp, TRAINER_STATE_FILE), state);
    await fsyncDir(tmp);
    const final = path.join(dir, name);
    const old = await exists(final);
    let trash: string | undefined;
    if (old) {
      trash = path.join(dir, `${TRASH_PREFIX}${name}-${randomBytes(4).toString('hex')}`);
      await fs.rename(final, trash);
    }
    await fs.rename(tmp, final);
    await fsyncDir(dir);
    await writeFileAtomic(path.join(dir, LATEST_FILE), `${name}\n`);
    await fsyncDir(dir);
    if (trash) await fs.rm(trash, { recursive: true, force: true });
    if (options.keep !== undefined) await pruneCheckpoints(dir, options.keep);
    return final;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    release();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

function formatZodIssue(file: string, error: z.ZodError): FileFormatError {
  const issue = error.issues[0]!;
  const field = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  return new FileFormatError({ file, path: field }, issue.message);
}

/** Reads and validates trainer_state.json; errors name the file and the field. */
export async function readTrainerState(file: string): Promise<TrainerState> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(file);
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError({ file }, `invalid JSON (${(e as Error).message})`);
  }
  const parsed = TrainerStateSchema.safeParse(raw);
  if (!parsed.success) throw formatZodIssue(file, parsed.error);
  return parsed.data;
}

/** Loads and validates a checkpoint folder. Every problem names the file (and tensor or field). */
export async function loadCheckpoint(checkpointDir: string): Promise<LoadedCheckpoint> {
  if (!(await exists(checkpointDir))) throw new MissingFileError(checkpointDir, 'checkpoint folder');
  const state = await readTrainerState(path.join(checkpointDir, TRAINER_STATE_FILE));
  const model = await readSafetensors(path.join(checkpointDir, MODEL_FILE));
  const optimizerFile = path.join(checkpointDir, OPTIMIZER_FILE);
  const optimizer = await readSafetensors(optimizerFile);
  // Files from two different saves (a hand-assembled folder) would resume with mismatched moments.
  const optStep = optimizer.metadata.step;
  if (optStep !== undefined && optStep !== String(state.step)) {
    throw new FileFormatError(
      { file: optimizerFile, path: ['__metadata__', 'step'] },
      `optimizer state is from step ${optStep} but ${TRAINER_STATE_FILE} says step ${state.step}`,
    );
  }
  return {
    path: checkpointDir,
    params: model.tensors,
    optimizerState: optimizer.tensors,
    state,
    modelMetadata: model.metadata,
  };
}

/**
 * Whether a folder holds a complete checkpoint: trainer_state.json validates and both safetensors
 * headers validate against their file sizes (tensor data is not read).
 */
export async function isCompleteCheckpoint(checkpointDir: string): Promise<boolean> {
  try {
    await readTrainerState(path.join(checkpointDir, TRAINER_STATE_FILE));
    await readSafetensorsHeader(path.join(checkpointDir, MODEL_FILE));
    await readSafetensorsHeader(path.join(checkpointDir, OPTIMIZER_FILE));
    return true;
  } catch {
    return false;
  }
}

/** Checkpoint folders under `dir` (by name, complete or not), newest step first. */
async function listStepDirs(dir: string): Promise<{ name: string; step: number }[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: { name: string; step: number }[] = [];
  for (const name of names) {
    const m = STEP_DIR.exec(name);
    if (!m) continue;
    const stat = await fs.stat(path.join(dir, name)).catch(() => undefined);
    if (stat?.isDirectory()) out.push({ name, step: Number(m[1]) });
  }
  return out.sort((a, b) => b.step - a.step || (a.name < b.name ? -1 : 1));
}

async function readLatestPointer(dir: string): Promise<string | undefined> {
  const text = await fs.readFile(path.join(dir, LATEST_FILE), 'utf8').catch(() => undefined);
  const name = text?.trim();
  // Only a bare checkpoint name is trusted: a pointer must never lead outside the folder.
  return name !== undefined && STEP_DIR.test(name) ? name : undefined;
}

/**
 * The checkpoint to resume from: the one `latest` names if it is complete, otherwise the complete
 * checkpoint with the highest step. Temporary folders, stray files and incomplete folders are ignored.
 * Returns undefined when there is none.
 */
export async function findLatestCheckpoint(dir: string): Promise<string | undefined> {
  const pointed = await readLatestPointer(dir);
  if (pointed !== undefined && (await isCompleteCheckpoint(path.join(dir, pointed)))) {
    return path.join(dir, pointed);
  }
  for (const { name } of await listStepDirs(dir)) {
    if (await isCompleteCheckpoint(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/**
 * Keeps the `keep` complete checkpoints with the highest steps (and always the one `latest` names),
 * removing the other complete ones, plus leftovers of interrupted saves: `.tmp-*` folders whose process
 * is gone and `.trash-*` folders. Incomplete `step-*` folders are left alone (they may be a user's copy
 * in progress). Each removal renames first, so a crash mid-delete never leaves a half-deleted
 * checkpoint under a valid name. Returns the removed paths.
 */
export async function pruneCheckpoints(dir: string, keep: number): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1)
    throw new UsageError(`keep must be a positive integer, got ${keep}`);
  const removed: string[] = [];
  const pointed = await readLatestPointer(dir);
  let kept = 0;
  for (const { name } of await listStepDirs(dir)) {
    const full = path.join(dir, name);
    if (!(await isCompleteCheckpoint(full))) continue;
    if (kept < keep || name === pointed) {
      kept++;
      continue;
    }
    const trash = path.join(dir, `${TRASH_PREFIX}${name}-${randomBytes(4).toString('hex')}`);
    await fs.rename(full, trash);
    await fs.rm(trash, { recursive: true, force: true });
    removed.push(full);
  }
  for (const name of await fs.readdir(dir)) {
    const full = path.join(dir, name);
    if (name.startsWith(TRASH_PREFIX)) {
      await fs.rm(full, { recursive: true, force: true });
      removed.push(full);
    } else if (name.startsWith(TMP_PREFIX)) {
      // A save still running (in this process or another live one) must not lose its folder.
      const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
      if (Number.isInteger(pid) && (pid === process.pid || processAlive(pid))) continue;
      await fs.rm(full, { recursive: true, force: true });
      removed.push(full);
    }
  }
  if (removed.length > 0) await fsyncDir(dir);
  return removed;
}
