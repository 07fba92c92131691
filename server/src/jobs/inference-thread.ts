/**
 * An inference thread: a long-lived worker thread that owns a ModelRegistry (models stay warm across jobs)
 * and runs `runSegmentJob` — series parsing, preprocessing, export resampling, postprocessing and SEG
 * encoding — off the server's event loop. One job at a time; the main-thread side is inference-proxy.ts and
 * the messages are in inference-protocol.ts.
 *
 * DICOMweb series are fetched by the main thread (it holds the PACS client, a function that cannot cross a
 * thread boundary): runSegmentJob's `fetchSeries` here asks for it with a `fetch` message and waits for
 * `fetched`. Results and partial label maps go back with their buffers transferred, not copied.
 */
import { isMainThread, parentPort, workerData, type MessagePort, type Transferable } from 'node:worker_threads';
import { ModelRegistry } from '../models/model-registry.js';
import { ModelStore } from '../models/model-store.js';
import { isAbortError, toJobError } from '../contract/job-errors.js';
import { describeIssues, InferenceThreadConfigSchema, ToThreadSchema, type FromThread, type InferenceThreadConfig } from './inference-protocol.js';
import { runSegmentJob, type DicomWebSource, type FetchSeries } from './run-job.js';
import type { SegmentRequest } from './types.js';

interface RunningJob {
  controller: AbortController;
  fetch?: { resolve: () => void; reject: (e: Error) => void; onInstance?: (n: number) => void };
}

/** A view whose buffer can be transferred as is, or a copy that can (pooled Node buffers cannot move). */
function ownBuffer(a: Uint8Array): Uint8Array<ArrayBuffer> {
  return (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a : a.slice()) as Uint8Array<ArrayBuffer>;
}

export function serveInferenceThread(port: MessagePort, config: InferenceThreadConfig): void {
  const send = (msg: FromThread, transfer: Transferable[] = []) => port.postMessage(msg, transfer);
  let warmPosted = false;
  const registry: ModelRegistry = new ModelRegistry(new ModelStore(config.storeRoot), {
    ...config.registry,
    // report what is warm (coalesced to one message per turn) so the main thread's registry can list it
    onChange: () => {
      if (warmPosted) return;
      warmPosted = true;
      queueMicrotask(() => {
        warmPosted = false;
        send({ type: 'warm', models: registry.warm() });
      });
    },
  });
  const jobs = new Map<string, RunningJob>();
  const busy = new Int32Array(config.busy);
  // onnxruntime works while the model loads (after the fetch, before 'assembling') and from preprocessing to the
  // end of predicting; reading the series, export and encoding leave it idle. See `busy` in inference-protocol.ts
  const idleStages = new Set(['assembling', 'postprocessing', 'encoding']);

  const run = async (jobId: string, request: SegmentRequest) => {
    const controller = new AbortController();
    const { signal } = controller;
    const job: RunningJob = { controller };
    jobs.set(jobId, job);
    Atomics.store(busy, 0, 1);
    const fetchSeries: FetchSeries | undefined = config.canFetch
      ? (source: DicomWebSource, folder: string, _signal: AbortSignal, onInstance?: (n: number) => void) =>
          new Promise<void>((resolve, reject) => {
            job.fetch = { resolve, reject, onInstance };
            send({ type: 'fetch', jobId, source, folder });
          }).finally(() => (job.fetch = undefined))
      : undefined;
    try {
      const result = await runSegmentJob(
        request,
        { registry, fetchSeries, spoolRoot: config.spoolRoot, retainSeries: config.retainSeries, loadOptions: config.loadOptions, jobLimits: config.jobLimits },
        {
          signal,
          onProgress: (progress) => {
            Atomics.store(busy, 0, idleStages.has(progress.stage) ? 0 : 1);
            send({ type: 'progress', jobId, progress });
          },
          onPartial: (partial) => {
            const labels = ownBuffer(partial.labels);
            send({ type: 'partial', jobId, partial: { ...partial, labels } }, [labels.buffer]);
          },
        },
      );
      const seg = ownBuffer(result.seg);
      send({ type: 'result', jobId, result: { ...result, seg } }, [seg.buffer]);
    } catch (e) {
      const aborted = isAbortError(e, signal);
      const err = toJobError(e);
      send({ type: 'error', jobId, code: err.code, message: err.message, aborted });
    } finally {
      Atomics.store(busy, 0, 0); // predictCase awaits each network call before it checks the signal: none in flight
      jobs.delete(jobId);
    }
  };

  port.on('message', (raw: unknown) => {
    const parsed = ToThreadSchema.safeParse(raw);
    if (!parsed.success) {
      // the main thread is ours: a malformed message is a bug, reported on the job it names when it names one
      const jobId = typeof (raw as { jobId?: unknown })?.jobId === 'string' ? (raw as { jobId: string }).jobId : '';
      send({ type: 'error', jobId, code: 'INTERNAL', message: `inference thread: malformed message: ${describeIssues(parsed.error)}`, aborted: false });
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'run':
        void run(msg.jobId, msg.request);
        break;
      case 'cancel':
        jobs.get(msg.jobId)?.controller.abort();
        jobs.get(msg.jobId)?.fetch?.reject(new DOMException('the job was cancelled', 'AbortError'));
        break;
      case 'invalidate':
        void registry.invalidate(msg.model);
        break;
      case 'fetchProgress':
        jobs.get(msg.jobId)?.fetch?.onInstance?.(msg.instances);
        break;
      case 'fetched': {
        const f = jobs.get(msg.jobId)?.fetch;
        if (!f) break;
        if (msg.ok) f.resolve();
        else f.reject(msg.aborted ? new DOMException(msg.message ?? 'aborted', 'AbortError') : new Error(msg.message ?? 'the series could not be fetched'));
        break;
      }
    }
  });
  send({ type: 'ready' });
}

// entry point when started as a worker by inference-proxy.ts
if (!isMainThread && parentPort && (workerData as { kind?: string } | undefined)?.kind === 'nnseg-inference-thread') {
  const config = InferenceThreadConfigSchema.safeParse(workerData);
  if (!config.success) throw new Error(`inference thread: bad configuration: ${describeIssues(config.error)}`);
  serveInferenceThread(parentPort, config.data);
}
