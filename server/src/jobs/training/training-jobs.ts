/**
 * Train jobs on the server (issue #5 item 4): an admin asks for a model trained on the corrections
 * annotators sent (series pulled from the PACS) or on an nnU-Net raw dataset the server holds; the job builds
 * the raw dataset, plans and preprocesses it, trains (nnseg's trainer), validates through the predictor and
 * registers the result in the model store as a new version, streaming each epoch to its subscribers.
 *
 * - One run at a time, FIFO; every step runs as an `nnseg` child process (train-command.ts).
 * - Everything of a job lives in `<root>/<id>/`: `training-job.json` (TrainingJobRecord, rewritten by rename
 *   on every stage and epoch), `raw/` (a corrections dataset), `preprocessed/`, `results/` (nnU-Net layout).
 *   A dataset given by name is read where it is and never written.
 * - Cancel: SIGTERM, SIGKILL after `killGraceMs`. A cancelled, failed or interrupted job can be resumed: the
 *   finished stages are skipped, training continues from its last saved epoch (`--resume`) with the same
 *   schedule, and an unfinished preprocessing is redone from scratch.
 * - Restart: a job that was running is recorded `interrupted` (resumable); queued jobs are queued again.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CorrectionStore, correctionsRoot } from '../../corrections/correction-store.js';
import type { ModelStore } from '../../models/model-store.js';
import { planCorrectionsDataset } from '../../training/corrections-dataset.js';
import type { EpochMetrics, TrainingEvent, TrainingStage } from '../../contract/training-events.js';
import { hasTrainingState } from '../../training/training-state.js';
import { workerScriptUrl } from '../../workers/pool.js';
import { correctionsDatasetArgs, correctionsDatasetName, trainArgs, type TrainJobPaths } from './train-command.js';
import {
  parseTrainRequest,
  RESUMABLE_STATES,
  TRAINING_JOB_FORMAT_VERSION,
  TrainingJobRecordSchema,
  type TrainingJobRecord,
  type TrainingJobSummary,
  type TrainRequest,
} from '../../contract/train-request.js';
import { writeJsonAtomic } from '../../formats/atomic-file.js';
import { ChildRun } from './child-run.js';
import { applyTrainingEvent, ENDED_TRAINING_STATES as ENDED, stageIndex } from './training-record.js';
import { trainedModelFolderName } from '../../io/nnunet-paths.js';

export const TRAINING_JOB_FILE = 'training-job.json';

export type TrainingJobErrorCode = 'BAD_MESSAGE' | 'UNKNOWN_MODEL' | 'UNKNOWN_JOB' | 'BAD_STATE' | 'PACS_UNAVAILABLE' | 'LIMIT_EXCEEDED' | 'SHUTTING_DOWN';

/** A request the manager refuses at once (the API maps the code to its error). */
export class TrainingJobError extends Error {
  constructor(
    readonly code: TrainingJobErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** An update to subscribers: the record without its curve, and the epochs that are new to them. */
export interface TrainingUpdate {
  training: TrainingJobSummary;
  /** every epoch so far in the first update after subscribing, then each new epoch once */
  epochs: EpochMetrics[];
}
export type TrainingListener = (u: TrainingUpdate) => void;

export interface TrainingJobsOptions {
  /** where job folders live (the server uses <workDir>/training) */
  root: string;
  /** the server's work dir (corrections are read from <workDir>/corrections) */
  workDir: string;
  store: ModelStore;
  /** nnUNet_raw-like folder that `{ kind: 'dataset', name }` sources are taken from */
  datasetsRoot?: string;
  /** the PACS corrections' series are pulled from */
  pacs?: { url: string; headers?: Record<string, string> };
  /** the `nnseg` entry script (default: server/dist/cli/main.js beside this build) */
  cliScript?: string;
  /** extra environment of the child processes */
  env?: NodeJS.ProcessEnv;
  /** queued jobs accepted at once (default 20) */
  maxQueued?: number;
  /** SIGKILL a cancelled child this long after SIGTERM (default 10 s) */
  killGraceMs?: number;
  /** told after a run registered a model version (e.g. to evict the old one from the warm cache) */
  onModelChanged?: (name: string) => void;
  log?: (event: string, fields: Record<string, string | number | boolean | undefined>) => void;
}

interface Job {
  record: TrainingJobRecord;
  listeners: Set<TrainingListener>;
  run?: ChildRun;
  lastIterationEmit?: number;
}

const now = () => new Date().toISOString();

export class TrainingJobs {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private running?: Job;
  private runningDone?: Promise<void>;
  private closed = false;
  private readonly log: (event: string, fields: Record<string, string | number | boolean | undefined>) => void;
  private readonly cli: string;

  constructor(private readonly o: TrainingJobsOptions) {
    this.log = o.log ?? (() => {});
    this.cli = o.cliScript ?? fileURLToPath(workerScriptUrl('../../cli/main.js', import.meta.url));
    mkdirSync(o.root, { recursive: true });
    this.recover();
    this.pump();
  }

  /** Checks and queues a train request; throws TrainingJobError for one that can never run. */
  start(input: unknown, owner: string): TrainingJobRecord {
    if (this.closed) throw new TrainingJobError('SHUTTING_DOWN', 'the server is shutting down and takes no new train jobs');
    let request: TrainRequest;
    try {
      request = parseTrainRequest(input);
    } catch (e) {
      throw new TrainingJobError('BAD_MESSAGE', (e as Error).message);
    }
    this.checkRunnable(request);
    const queued = this.queue.length;
    if (queued >= (this.o.maxQueued ?? 20)) throw new TrainingJobError('LIMIT_EXCEEDED', `${queued} train jobs are already waiting; try again later`);
    const record: TrainingJobRecord = {
      formatVersion: TRAINING_JOB_FORMAT_VERSION,
      id: randomUUID(),
      owner,
      state: 'queued',
      request,
      createdAt: now(),
      runs: 0,
      epochs: [],
    };
    const job: Job = { record, listeners: new Set() };
    this.jobs.set(record.id, job);
    mkdirSync(this.folder(record.id), { recursive: true });
    this.persist(job);
    this.log('training.queued', { id: record.id, by: owner, source: request.source.kind, registerAs: request.registerAs });
    this.queue.push(job);
    this.pump();
    return this.snapshot(job);
  }

  /** Queues a cancelled, failed or interrupted job again; it continues where it stopped. */
  resume(id: string): TrainingJobRecord {
    if (this.closed) throw new TrainingJobError('SHUTTING_DOWN', 'the server is shutting down and takes no new train jobs');
    const job = this.require(id);
    if (!RESUMABLE_STATES.includes(job.record.state))
      throw new TrainingJobError('BAD_STATE', `train job ${id} is ${job.record.state}; only ${RESUMABLE_STATES.join(', ')} jobs can be resumed`);
    this.checkRunnable(job.record.request);
    job.record.state = 'queued';
    delete job.record.error;
    delete job.record.endedAt;
    this.persist(job);
    this.emit(job);
    this.queue.push(job);
    this.pump();
    return this.snapshot(job);
  }

  /** Cancels a queued or running job (a running child is stopped; its last saved epoch stays for a resume). */
  cancel(id: string): TrainingJobRecord {
    const job = this.require(id);
    if (ENDED.has(job.record.state)) throw new TrainingJobError('BAD_STATE', `train job ${id} has already ended (${job.record.state})`);
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    this.end(job, 'cancelled');
    job.run?.stop();
    this.log('training.cancelled', { id });
    return this.snapshot(job);
  }

  get(id: string): TrainingJobRecord | undefined {
    const job = this.jobs.get(id);
    return job ? this.snapshot(job) : undefined;
  }

  /** The job without its curve. */
  summary(id: string): TrainingJobSummary | undefined {
    const job = this.jobs.get(id);
    return job ? this.summarize(job) : undefined;
  }

  /** Every job without its curve, oldest first. */
  list(): TrainingJobSummary[] {
    return [...this.jobs.values()].map((j) => this.summarize(j)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Sends the current record now and every change after; returns the unsubscribe function, or undefined for an unknown id. */
  subscribe(id: string, listener: TrainingListener): (() => void) | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    job.listeners.add(listener);
    this.call(listener, { training: this.summarize(job), epochs: structuredClone(job.record.epochs) });
    return () => job.listeners.delete(listener);
  }

  /** Stops the running child (recorded as interrupted, resumable) and takes no more jobs. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const job = this.running;
    if (job?.run) {
      this.end(job, 'interrupted', { code: 'INTERRUPTED', message: 'the server stopped while this job was running; resume it to continue' });
      job.run.stop();
    }
    await this.runningDone;
  }

  // ───────────────────────────── running ─────────────────────────────

  private pump(): void {
    if (this.closed || this.running) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    this.runningDone = this.run(job).finally(() => {
      this.running = undefined;
      this.pump();
    });
  }

  private async run(job: Job): Promise<void> {
    const run = new ChildRun({
      cli: this.cli,
      env: this.o.env,
      killGraceMs: this.o.killGraceMs,
      onBadEvent: (reason) => this.log('training.bad_event', { id: job.record.id, reason }),
    });
    job.run = run;
    try {
      await this.runStages(job, run);
    } finally {
      if (job.run === run) job.run = undefined;
    }
  }

  private async runStages(job: Job, run: ChildRun): Promise<void> {
    // job.record is replaced by every training event (applyTrainingEvent): always read it anew
    job.record.state = 'running';
    job.record.startedAt = now();
    job.record.runs++;
    delete job.record.iteration;
    this.persist(job);
    this.emit(job);
    this.log('training.started', { id: job.record.id, run: job.record.runs });
    try {
      const paths = this.paths(job.record);
      if (job.record.request.source.kind === 'corrections' && stageIndex(job.record.completedStage) < stageIndex('dataset')) {
        this.setStage(job, 'dataset');
        rmSync(join(this.folder(job.record.id), 'raw'), { recursive: true, force: true });
        await this.buildCorrectionsDataset(job, run, paths.rawDatasetFolder);
        if (run.stopped) return;
        job.record.completedStage = 'dataset';
        this.persist(job);
      }
      // planning/preprocessing that did not finish leaves a folder that looks done: start it again
      if (stageIndex(job.record.completedStage) < stageIndex('preprocessing')) rmSync(paths.preprocessedRoot, { recursive: true, force: true });
      const resume = hasTrainingState(this.foldFolder(job.record, paths));
      const res = await run.exec(trainArgs(job.record.request, paths, { resume }), (e) => this.onEvent(job, e));
      if (run.stopped) return;
      if (res.code !== 0) throw new Error(`nnseg train exited with ${res.signal ?? `code ${res.code}`}: ${res.tail || '(no output)'}`);
      if (!job.record.registered) throw new Error('nnseg train ended without registering the model');
      this.end(job, 'succeeded');
      this.o.onModelChanged?.(job.record.registered.name);
      this.log('training.succeeded', { id: job.record.id, model: job.record.registered.name, version: job.record.registered.version, dice: job.record.validation?.foregroundMeanDice ?? undefined });
    } catch (e) {
      if (run.stopped) return;
      const message = (e as Error).message;
      const code = (e as { code?: string }).code === 'PACS_UNAVAILABLE' ? 'PACS_UNAVAILABLE' : job.record.stage === 'dataset' ? 'BAD_DATASET' : 'TRAINING_FAILED';
      this.end(job, 'failed', { code, message });
      this.log('training.failed', { id: job.record.id, code, reason: message.slice(0, 500) });
    }
  }

  private onEvent(job: Job, e: TrainingEvent): void {
    const effect = applyTrainingEvent(job.record, e);
    job.record = effect.record;
    if (effect.persist) this.persist(job);
    if (effect.notify === 'now') this.emit(job, effect.epoch);
    else if (effect.notify === 'iteration') {
      // at most two a second to subscribers, and always the last of a phase
      const t = Date.now();
      if (job.record.iteration?.done === job.record.iteration?.total || t - (job.lastIterationEmit ?? 0) >= 500) {
        job.lastIterationEmit = t;
        this.emit(job);
      }
    }
  }

  private async buildCorrectionsDataset(job: Job, run: ChildRun, rawDatasetFolder: string): Promise<void> {
    const pacs = this.o.pacs;
    if (!pacs) throw Object.assign(new Error('this server has no DICOMweb PACS configured to pull the corrected series from'), { code: 'PACS_UNAVAILABLE' });
    const dir = this.folder(job.record.id);
    // the child reads work dir and PACS (headers may hold credentials) from a config only it can read
    const configFile = join(dir, '.pacs-config.json');
    writeFileSync(configFile, JSON.stringify({ formatVersion: 1, workDir: this.o.workDir, pacs }), { mode: 0o600 });
    try {
      const args = correctionsDatasetArgs(job.record.request, { datasetName: basename(rawDatasetFolder), rawRoot: join(dir, 'raw'), workDir: this.o.workDir, configFile });
      const res = await run.exec(args);
      if (run.stopped) return;
      if (res.code !== 0) throw new Error(`building the dataset from the corrections failed: ${res.tail || `exit ${res.signal ?? res.code}`}`);
    } finally {
      rmSync(configFile, { force: true });
    }
  }

  // ───────────────────────────── records ─────────────────────────────

  /** What makes a request unrunnable right now (dataset, PACS, corrections, pretrained model). */
  private checkRunnable(request: TrainRequest): void {
    const src = request.source;
    if (src.kind === 'dataset') {
      if (!this.o.datasetsRoot) throw new TrainingJobError('BAD_MESSAGE', 'this server has no datasets root configured (training.datasetsRoot or nnUNet_raw)');
      const folder = join(this.o.datasetsRoot, src.name);
      if (!existsSync(join(folder, 'dataset.json'))) throw new TrainingJobError('BAD_MESSAGE', `no nnU-Net raw dataset ${src.name} (with dataset.json) under the datasets root`);
    } else {
      if (!this.o.pacs) throw new TrainingJobError('PACS_UNAVAILABLE', 'training from corrections pulls their series from the PACS, and this server has none configured');
      try {
        planCorrectionsDataset(new CorrectionStore(correctionsRoot(this.o.workDir)).list().corrections, src.model !== undefined ? { model: src.model } : {});
      } catch (e) {
        throw new TrainingJobError('BAD_MESSAGE', (e as Error).message);
      }
    }
    if (request.pretrained !== undefined) {
      try {
        this.o.store.get(request.pretrained);
      } catch (e) {
        throw new TrainingJobError('UNKNOWN_MODEL', (e as Error).message);
      }
    }
  }

  private folder(id: string): string {
    return join(this.o.root, id);
  }

  private paths(r: TrainingJobRecord): TrainJobPaths {
    const dir = this.folder(r.id);
    const src = r.request.source;
    const rawDatasetFolder =
      src.kind === 'dataset' ? join(this.o.datasetsRoot ?? '', src.name) : join(dir, 'raw', correctionsDatasetName(r.request.registerAs));
    return { rawDatasetFolder, preprocessedRoot: join(dir, 'preprocessed'), resultsRoot: join(dir, 'results'), store: this.o.store.root };
  }

  private foldFolder(r: TrainingJobRecord, p: TrainJobPaths): string {
    return join(p.resultsRoot, basename(p.rawDatasetFolder), trainedModelFolderName('nnUNetTrainer', 'nnUNetPlans', r.request.configuration), `fold_${r.request.fold}`);
  }

  private require(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new TrainingJobError('UNKNOWN_JOB', `no train job ${id.slice(0, 64)}`);
    return job;
  }

  private setStage(job: Job, stage: TrainingStage): void {
    job.record.stage = stage;
    delete job.record.iteration;
    this.persist(job);
    this.emit(job);
  }

  private end(job: Job, state: 'succeeded' | 'failed' | 'cancelled' | 'interrupted', error?: TrainingJobRecord['error']): void {
    if (ENDED.has(job.record.state)) return;
    job.record.state = state;
    job.record.endedAt = now();
    if (error) job.record.error = error;
    this.persist(job);
    this.emit(job);
  }

  private recover(): void {
    for (const name of readdirSync(this.o.root).sort()) {
      const file = join(this.o.root, name, TRAINING_JOB_FILE);
      if (!existsSync(file)) continue;
      let record: TrainingJobRecord;
      try {
        const r = TrainingJobRecordSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
        if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
        record = r.data;
      } catch (e) {
        this.log('training.unreadable_record', { file, reason: (e as Error).message.slice(0, 300) });
        continue;
      }
      const job: Job = { record, listeners: new Set() };
      this.jobs.set(record.id, job);
      if (record.state === 'running') this.end(job, 'interrupted', { code: 'INTERRUPTED', message: 'the server stopped while this job was running; resume it to continue' });
      else if (record.state === 'queued') this.queue.push(job);
    }
    this.queue.sort((a, b) => a.record.createdAt.localeCompare(b.record.createdAt));
  }

  private persist(job: Job): void {
    const file = join(this.folder(job.record.id), TRAINING_JOB_FILE);
    try {
      writeJsonAtomic(file, job.record, { indent: 1 });
    } catch (e) {
      this.log('training.persist_failed', { id: job.record.id, reason: (e as Error).message });
    }
  }

  private snapshot(job: Job): TrainingJobRecord {
    return structuredClone(job.record);
  }

  private summarize(job: Job): TrainingJobSummary {
    const { epochs, ...rest } = job.record;
    return { ...structuredClone(rest), epochsDone: epochs.length };
  }

  private emit(job: Job, epoch?: EpochMetrics): void {
    if (job.listeners.size === 0) return;
    const u: TrainingUpdate = { training: this.summarize(job), epochs: epoch ? [epoch] : [] };
    for (const l of job.listeners) this.call(l, u);
  }

  private call(l: TrainingListener, u: TrainingUpdate): void {
    try {
      l(u);
    } catch (e) {
      this.log('training.listener_failed', { id: u.training.id, reason: (e as Error).message });
    }
  }
}
