/**
 * onnxruntime-node session around a network model: created once, reused for every patch.
 *
 * The session lives in a worker thread: onnxruntime-node's `run` is synchronous native work on the calling
 * thread (it only defers it with setImmediate), which would stall the server's event loop for seconds per
 * patch. The worker also keeps the native addon out of jest's vm sandbox, whose typed-array constructors
 * differ from the ones the addon creates. Inputs are copied to the worker, logits transferred back.
 *
 * CPU by default; CUDA when the runtime lists it and its provider library is actually installed
 * (onnxruntime-node lists `cuda` as an unbundled backend even when its install script was skipped).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { INPUT_NAME, OUTPUT_NAME } from './graph.js';

export type ExecutionDevice = 'cpu' | 'cuda' | 'auto';

export interface OnnxSessionOptions {
  /** threads for one operator (intra-op); default: onnxruntime's choice (all cores) */
  intraOpThreads?: number;
  /** 'auto' (default): CUDA when available, else CPU */
  device?: ExecutionDevice;
}

export interface Logits {
  data: Float32Array;
  /** [batch, channels, *spatial] */
  shape: number[];
}

const require = createRequire(import.meta.url);

interface Backend {
  name: string;
  bundled: boolean;
}

/** Whether the CUDA execution provider can be used by this onnxruntime-node install. */
export function cudaAvailable(): boolean {
  try {
    const ort = require('onnxruntime-node') as { listSupportedBackends(): Backend[] };
    const cuda = ort.listSupportedBackends().find((b) => b.name === 'cuda');
    if (!cuda) return false;
    if (cuda.bundled) return true;
    const bin = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(bin, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/** Providers for a requested device, in priority order: CPU stays as the fallback for ops CUDA lacks. */
export function executionProviders(device: ExecutionDevice, cuda: boolean): string[] {
  if (device === 'cuda' && !cuda)
    throw new Error(
      'CUDA execution provider requested but not installed for onnxruntime-node (install it with ONNXRUNTIME_NODE_INSTALL_CUDA=v12 npm rebuild onnxruntime-node, or use --device cpu/auto)',
    );
  if (!['cpu', 'cuda', 'auto'].includes(device)) throw new Error(`device must be cpu, cuda or auto, got ${device}`);
  return device === 'cpu' || !cuda ? ['cpu'] : ['cuda', 'cpu'];
}

/** Worker body (CommonJS, evaluated): one InferenceSession, requests answered in order. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
async function init() {
  session = await ort.InferenceSession.create(workerData.model, workerData.options);
  const meta = (names, md, want) => {
    const i = names.indexOf(want);
    if (i < 0 || !md[i] || !md[i].isTensor) throw new Error('model has no tensor "' + want + '" (has ' + names.join(', ') + ')');
    return md[i].shape;
  };
  return { input: meta(session.inputNames, session.inputMetadata, workerData.inputName),
           output: meta(session.outputNames, session.outputMetadata, workerData.outputName) };
}
parentPort.on('message', async (m) => {
  try {
    if (m.kind === 'init') { parentPort.postMessage({ id: m.id, ok: true, shapes: await init() }); return; }
    if (m.kind === 'release') { if (session) await session.release(); parentPort.postMessage({ id: m.id, ok: true }); return; }
    const out = await session.run({ [workerData.inputName]: new ort.Tensor('float32', m.input, m.shape) });
    const t = out[workerData.outputName];
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    parentPort.postMessage({ id: m.id, ok: true, data, shape: Array.from(t.dims) }, [data.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, error: e && e.message ? e.message : String(e) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  data?: Float32Array;
  shape?: number[];
  shapes?: { input: (number | string)[]; output: (number | string)[] };
}

export class OnnxSession {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;
  inputChannels = 0;
  numOutputs = 0;
  spatialDims = 0;

  private constructor(
    private readonly worker: Worker,
    /** execution providers requested, in priority order */
    readonly providers: string[],
  ) {
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(new Error(`onnxruntime: ${r.error}`));
    });
    const fail = (e: Error): void => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`onnxruntime worker exited (code ${code})`)));
  }

  private call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  static async create(model: Uint8Array, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const providers = executionProviders(options.device ?? 'auto', cudaAvailable());
    const sessionOptions: Record<string, unknown> = {
      graphOptimizationLevel: 'all',
      executionProviders: providers,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    };
    if (options.intraOpThreads !== undefined) {
      if (!Number.isInteger(options.intraOpThreads) || options.intraOpThreads < 1)
        throw new Error(`intraOpThreads must be a positive integer, got ${options.intraOpThreads}`);
      sessionOptions.intraOpNumThreads = options.intraOpThreads;
    }
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ortPath: require.resolve('onnxruntime-node'),
        model,
        options: sessionOptions,
        inputName: INPUT_NAME,
        outputName: OUTPUT_NAME,
      },
    });
    const s = new OnnxSession(worker, providers);
    try {
      const { shapes } = await s.call({ kind: 'init' });
      const ch = shapes!.input[1];
      const nOut = shapes!.output[1];
      if (typeof ch !== 'number' || typeof nOut !== 'number')
        throw new Error('model input/output must have a fixed channel dimension (axis 1)');
      s.inputChannels = ch;
      s.numOutputs = nOut;
      s.spatialDims = shapes!.input.length - 2;
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    return s;
  }

  /** Run one input [batch, C, *spatial] (float32, C-order) and return the logits. The input is copied. */
  async run(input: Float32Array, shape: number[]): Promise<Logits> {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== input.length) throw new Error(`input has ${input.length} values, shape [${shape.join(', ')}] needs ${n}`);
    if (shape.length !== this.spatialDims + 2)
      throw new Error(`input shape [${shape.join(', ')}] must be [batch, ${this.inputChannels}, ${this.spatialDims} spatial dims]`);
    if (shape[1] !== this.inputChannels) throw new Error(`input has ${shape[1]} channels, the model expects ${this.inputChannels}`);
    const r = await this.call({ kind: 'run', input, shape });
    // the array arrives from the worker built by the main realm's Float32Array; re-wrap it (no copy) so
    // `instanceof Float32Array` also holds in another realm (a vm context, as jest runs tests in)
    const d = r.data!;
    return { data: new Float32Array(d.buffer, d.byteOffset, d.length), shape: r.shape! };
  }

  /** Free the native session and stop the worker; the session cannot be used afterwards. */
  async release(): Promise<void> {
    if (this.dead) return;
    try {
      await this.call({ kind: 'release' });
    } finally {
      this.dead = new Error('session released');
      await this.worker.terminate();
    }
  }
}
