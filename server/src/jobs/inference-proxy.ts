/**
 * The main-thread side of the inference threads (inference-thread.ts): `run(jobId, request, ctx)` has the
 * same meaning as `runSegmentJob(request, options, ctx)`, but every CPU-heavy step runs in a long-lived
 * worker thread, so the server's event loop keeps answering uploads, pings and HTTP requests while a job runs.
 *
 * - One job per thread; `threads` threads (the queue's concurrency). A thread is started on first use and
 *   keeps its ModelRegistry, so models stay warm across jobs. Each thread's registry gets an equal share of
 *   the memory budget, and reports what it holds to the main registry (`reportExternal`), so
 *   `registry.warm()` still describes the server.
 * - `registry.invalidate(name)` on the main registry (after a model delete or replace) reaches every thread.
 * - Cancel: the job's AbortSignal sends `cancel`; the pipeline stops at its next check (between patches) and
 *   the thread reports the end. A thread that has not ended the job `cancelGraceMs` later is terminated and
 *   replaced: that is what frees the memory of a step that does not check the signal.
 * - A thread that dies (uncaught error, out of memory, terminate) fails its running job with INTERNAL and a
 *   message saying so; its spooled series is removed here, and the next job starts a fresh thread. A native
 *   abort (SIGABRT in onnxruntime) still takes the whole process down: a thread cannot contain that. Nor can
 *   it contain terminating a thread while onnxruntime runs in it (the binding throws a C++ exception on the
 *   torn-down environment → std::terminate; seen here): so this side terminates a thread only while its
 *   `busy` flag says onnxruntime is idle (loading and predicting are busy, reading, export and encoding not).
 */
import { rmSync } from 'node:fs';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ModelRegistry } from '../models/model-registry.js';
import { workerScriptUrl } from '../workers/pool.js';
import { JobError } from '../contract/job-errors.js';
import { describeIssues, FromThreadSchema, INFERENCE_PROTOCOL_VERSION, type FromThread, type InferenceThreadConfig, type ToThread } from './inference-protocol.js';
import { removeSpooledSeries, type JobRunnerOptions } from './run-job.js';
import type { SegmentContext } from './segment-series.js';
import type { SegmentRequest, SegmentResult } from './types.js';

export interface InferenceThreadsOptions extends JobRunnerOptions {
  /** threads = jobs at once (default 1) */
  threads?: number;
  /** after a cancel, how long a thread may take to stop before it is terminated (default 5000 ms) */
  cancelGraceMs?: number;
  /** V8 limits per thread (e.g. maxOldGenerationSizeMb): exceeding them ends the thread, not the server */
  resourceLimits?: ResourceLimits;
  log?: (line: string) => void;
}

type RunContext = SegmentContext & { signal: AbortSignal };

interface ThreadJob {
  jobId: string;
  request: SegmentRequest;
  ctx: RunContext;
  resolve: (r: SegmentResult) => void;
  reject: (e: Error) => void;
  /** DICOMweb series folder the main thread fetched for it (removed here if the thread dies) */
  fetchedFolder?: string;
  graceTimer?: NodeJS.Timeout;
  onAbort: () => void;
}

interface Slot {
  index: number;
  /** set by the thread while onnxruntime may run (see inference-protocol.ts) */
  busy: Int32Array;
  worker?: Worker;
  job?: ThreadJob;
  /** the reason of the last 'error' event, for the exit message */
  lastError?: Error;
}

const abortError = () => new DOMException('the job was cancelled', 'AbortError');

/** Where jobs run: in inference threads, on the calling thread, or threads when their script is there. */
export type JobExecutor = 'inference-thread' | 'same-thread' | 'auto';

/**
 * The threads for an executor choice. 'auto' (the queues' default) falls back to the calling thread, with a
 * log line, when the thread script is missing — e.g. the server bundled into one file, where
 * `server/dist/jobs/inference-thread.js` is not beside the code; 'inference-thread' throws then.
 */
export function createInferenceThreads(executor: JobExecutor | undefined, options: InferenceThreadsOptions): InferenceThreads | undefined {
  if (executor === 'same-thread') return undefined;
  try {
    return new InferenceThreads(options);
  } catch (e) {
    if (executor === 'inference-thread') throw e;
    options.log?.(`jobs run on the main thread: ${(e as Error).message}`);
    return undefined;
  }
}

export class InferenceThreads {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly registry: ModelRegistry;
  private readonly config: InferenceThreadConfig;
  private readonly log: (line: string) => void;
  private readonly unsubscribe: () => void;
  private readonly script: URL;
  private closed = false;
  /** threads started so far (restarts included), for operations and tests */
  started = 0;

  constructor(private readonly options: InferenceThreadsOptions) {
    this.size = Math.max(1, options.threads ?? 1);
    this.script = workerScriptUrl('./inference-thread.js', import.meta.url); // throws, naming the path, when not built
    this.registry = options.registry;
    this.log = options.log ?? (() => {});
    const settings = this.registry.settings();
    this.config = {
      v: INFERENCE_PROTOCOL_VERSION,
      kind: 'nnseg-inference-thread',
      storeRoot: this.registry.store.root,
      // every thread holds its own models: split the budget so the server's total stays within it
      registry: { ...settings, memoryBudgetBytes: Math.floor((settings.memoryBudgetBytes ?? 4 * 1024 ** 3) / this.size) },
      loadOptions: options.loadOptions,
      spoolRoot: options.spoolRoot,
      retainSeries: options.retainSeries,
      jobLimits: options.jobLimits,
      canFetch: !!options.fetchSeries,
      busy: new SharedArrayBuffer(4), // replaced per thread in spawn()
    };
    for (let i = 0; i < this.size; i++) this.slots.push({ index: i, busy: new Int32Array(new SharedArrayBuffer(4)) });
    this.unsubscribe = this.registry.onInvalidate((model) => {
      for (const s of this.slots) this.post(s, { type: 'invalidate', model });
    });
  }

  /** Runs one job in a free thread; resolves/rejects like runSegmentJob (the abort error after a cancel). */
  run(jobId: string, request: SegmentRequest, ctx: RunContext): Promise<SegmentResult> {
    if (this.closed) return Promise.reject(new JobError('INTERNAL', 'the inference threads are closed'));
    const slot = this.slots.find((s) => !s.job);
    if (!slot) return Promise.reject(new JobError('INTERNAL', `all ${this.size} inference thread(s) are busy`));
    if (ctx.signal.aborted) return Promise.reject(abortError());
    return new Promise<SegmentResult>((resolve, reject) => {
      const job: ThreadJob = {
        jobId,
        request,
        ctx,
        resolve,
        reject,
        onAbort: () => {
          this.post(slot, { type: 'cancel', jobId });
          const grace = this.options.cancelGraceMs ?? 5000;
          const check = () => {
            if (slot.job !== job || !slot.worker) return;
            // while onnxruntime may run, terminating could abort the process; the pipeline stops within a patch
            if (Atomics.load(slot.busy, 0) !== 0) {
              job.graceTimer = setTimeout(check, 50);
              return;
            }
            this.log(`job ${jobId}: the inference thread did not stop ${grace} ms after the cancel; terminating it`);
            void slot.worker.terminate();
          };
          job.graceTimer = setTimeout(check, grace);
        },
      };
      slot.job = job;
      ctx.signal.addEventListener('abort', job.onAbort, { once: true });
      try {
        const worker = slot.worker ?? this.spawn(slot);
        worker.ref(); // a running job keeps the process alive; an idle thread does not (see settle)
        worker.postMessage({ type: 'run', jobId, request } satisfies ToThread);
      } catch (e) {
        this.settle(slot, job, () => job.reject(new JobError('INTERNAL', `could not start an inference thread: ${(e as Error).message}`, { cause: e })));
      }
    });
  }

  /**
   * Ends a thread as a crash would (operations, tests); its running job fails, the next job gets a new thread.
   * Waits (up to `maxWaitMs`) until onnxruntime is idle in that thread, so the process survives it.
   */
  async terminateThread(index: number, maxWaitMs = 30_000): Promise<void> {
    const slot = this.slots[index];
    if (!slot?.worker) return;
    await this.whenIdle(slot, maxWaitMs);
    await slot.worker?.terminate();
  }

  /** Whether onnxruntime may be running in thread `index` now. */
  isBusy(index: number): boolean {
    return Atomics.load(this.slots[index].busy, 0) !== 0;
  }

  private async whenIdle(slot: Slot, maxWaitMs: number): Promise<void> {
    const t0 = Date.now();
    while (Atomics.load(slot.busy, 0) !== 0 && Date.now() - t0 < maxWaitMs) await new Promise((r) => setTimeout(r, 20));
  }

  /** Whether thread `index` is running now. */
  isAlive(index: number): boolean {
    return !!this.slots[index]?.worker;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    // the queue has aborted its jobs; a job stops within a patch, and only then may its thread be terminated
    await Promise.all(
      this.slots.map(async (s) => {
        await this.whenIdle(s, 30_000);
        await s.worker?.terminate();
      }),
    );
    for (const s of this.slots) this.registry.reportExternal(`inference-thread-${s.index}`, undefined);
  }

  private spawn(slot: Slot): Worker {
    Atomics.store(slot.busy, 0, 0);
    const worker = new Worker(this.script, {
      workerData: { ...this.config, busy: slot.busy.buffer },
      resourceLimits: this.options.resourceLimits,
    });
    this.started++;
    slot.worker = worker;
    slot.lastError = undefined;
    worker.on('message', (msg: unknown) => this.onMessage(slot, msg));
    worker.on('error', (err) => (slot.lastError = err));
    worker.on('exit', (code) => this.onExit(slot, worker, code));
    return worker;
  }

  private onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    this.registry.reportExternal(`inference-thread-${slot.index}`, undefined);
    const job = slot.job;
    if (!job) {
      if (!this.closed) this.log(`inference thread ${slot.index} exited (code ${code}); a new one starts with the next job`);
      return;
    }
    const reason = slot.lastError ? `${(slot.lastError as NodeJS.ErrnoException).code ?? slot.lastError.name}: ${slot.lastError.message}` : `exit code ${code}`;
    // the thread could not clean up after itself: remove the job's spooled series here
    removeSpooledSeries(job.request, this.options);
    if (job.fetchedFolder && !this.options.retainSeries) rmSync(job.fetchedFolder, { recursive: true, force: true });
    if (job.ctx.signal.aborted) this.settle(slot, job, () => job.reject(abortError()));
    else {
      this.log(`job ${job.jobId}: the inference thread died (${reason})`);
      this.settle(slot, job, () =>
        job.reject(new JobError('INTERNAL', `the inference thread stopped while running this job (${reason}); the server restarts it for the next job`)),
      );
    }
  }

  private settle(slot: Slot, job: ThreadJob, f: () => void): void {
    if (slot.job !== job) return;
    slot.job = undefined;
    slot.worker?.unref();
    clearTimeout(job.graceTimer);
    job.ctx.signal.removeEventListener('abort', job.onAbort);
    f();
  }

  private onMessage(slot: Slot, raw: unknown): void {
    const parsed = FromThreadSchema.safeParse(raw);
    const job = slot.job;
    if (!parsed.success) {
      const message = `inference thread ${slot.index} sent a malformed message: ${describeIssues(parsed.error)}`;
      this.log(message);
      if (job) this.settle(slot, job, () => job.reject(new JobError('INTERNAL', message)));
      return;
    }
    const msg: FromThread = parsed.data;
    if (msg.type === 'ready') return;
    if (msg.type === 'warm') {
      this.registry.reportExternal(`inference-thread-${slot.index}`, msg.models);
      return;
    }
    if (!job || msg.jobId !== job.jobId) return; // a late message of a job that already ended
    switch (msg.type) {
      case 'progress':
        job.ctx.onProgress?.(msg.progress);
        break;
      case 'partial':
        job.ctx.onPartial?.(msg.partial as { z0: number; shape: [number, number, number]; labels: Uint8Array });
        break;
      case 'result':
        this.settle(slot, job, () => job.resolve(msg.result));
        break;
      case 'error':
        this.settle(slot, job, () => job.reject(msg.aborted ? abortError() : new JobError(msg.code, msg.message)));
        break;
      case 'fetch':
        void this.fetchFor(slot, job, msg.source, msg.folder);
        break;
    }
  }

  /** Pulls a DICOMweb series for the thread (the PACS client lives on this side). */
  private async fetchFor(slot: Slot, job: ThreadJob, source: SegmentRequest['series'], folder: string): Promise<void> {
    const fetchSeries = this.options.fetchSeries;
    if (!fetchSeries || source.kind !== 'dicomweb') {
      this.post(slot, { type: 'fetched', jobId: job.jobId, ok: false, message: 'this server has no DICOMweb PACS configured' });
      return;
    }
    job.fetchedFolder = folder;
    try {
      await fetchSeries(source, folder, job.ctx.signal, (instances) => this.post(slot, { type: 'fetchProgress', jobId: job.jobId, instances }));
      this.post(slot, { type: 'fetched', jobId: job.jobId, ok: true });
    } catch (e) {
      this.post(slot, { type: 'fetched', jobId: job.jobId, ok: false, message: (e as Error).message, aborted: job.ctx.signal.aborted });
    }
  }

  private post(slot: Slot, msg: ToThread): void {
    try {
      slot.worker?.postMessage(msg);
    } catch (e) {
      this.log(`inference thread ${slot.index}: could not post '${msg.type}': ${(e as Error).message}`);
    }
  }
}
