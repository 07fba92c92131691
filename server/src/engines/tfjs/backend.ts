/**
 * TensorFlow.js backend chosen at run time (DESIGN.md §3): tfjs-node-gpu (CUDA) → tfjs-node → wasm → cpu.
 * The native packages are optional and usually absent (their install scripts download libtensorflow), so
 * each is tried by dynamic import; the first that loads and initialises wins. The choice is logged once
 * and reported to callers (training jobs put it in their events).
 */
import * as tf from '@tensorflow/tfjs';

export type TfjsBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  /** the tfjs backend name in use ('tensorflow' for both native packages) */
  backend: string;
  /** which package provided it */
  kind: TfjsBackendName;
  /** why the better ones were not used */
  skipped: string[];
}

let chosen: Promise<BackendChoice> | null = null;

/** Dynamic import through a variable so bundlers/tsc do not require the optional packages. */
async function tryImport(name: string): Promise<void> {
  await import(name);
}

async function attempt(kind: TfjsBackendName, skipped: string[]): Promise<BackendChoice | null> {
  try {
    if (kind === 'tensorflow-gpu') await tryImport('@tensorflow/tfjs-node-gpu');
    else if (kind === 'tensorflow') await tryImport('@tensorflow/tfjs-node');
    else if (kind === 'wasm') await tryImport('@tensorflow/tfjs-backend-wasm');
    const name = kind === 'tensorflow-gpu' || kind === 'tensorflow' ? 'tensorflow' : kind;
    if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
    await tf.ready();
    return { backend: tf.getBackend(), kind, skipped };
  } catch (e) {
    skipped.push(`${kind}: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

export interface SelectBackendOptions {
  /** force one backend (e.g. 'cpu' in tests); throws when it is not available */
  prefer?: TfjsBackendName;
  /** logger for the one-line report (default console.error; null = silent) */
  log?: ((line: string) => void) | null;
}

/**
 * Select the best available backend once per process and return the choice. Later calls return the same
 * choice unless `prefer` names a different backend.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendChoice> {
  const envPrefer = process.env.NNSEG_TFJS_BACKEND as TfjsBackendName | undefined;
  const prefer = options.prefer ?? (envPrefer || undefined);
  if (prefer) {
    const current = chosen ? await chosen : null;
    if (current && current.kind === prefer) return current;
    const skipped: string[] = [];
    const r = await attempt(prefer, skipped);
    if (!r) throw new Error(`tfjs backend "${prefer}" is not available: ${skipped.join('; ')}`);
    chosen = Promise.resolve(r);
    report(r, options.log);
    return r;
  }
  chosen ??= (async () => {
    const skipped: string[] = [];
    for (const kind of ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const) {
      const r = await attempt(kind, skipped);
      if (r) {
        report(r, options.log);
        return r;
      }
    }
    throw new Error(`no tfjs backend could be initialised: ${skipped.join('; ')}`);
  })();
  return chosen;
}

function report(r: BackendChoice, log: ((line: string) => void) | null | undefined): void {
  if (log === null) return;
  (log ?? ((l: string) => console.error(l)))(
    `tfjs backend: ${r.kind}${r.skipped.length ? ` (skipped ${r.skipped.join('; ')})` : ''}`,
  );
}

/** Backends this process can load (for the benchmark), without changing the current one. */
export async function availableBackends(): Promise<TfjsBackendName[]> {
  const out: TfjsBackendName[] = [];
  const before = tf.getBackend();
  for (const kind of ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const) {
    if (await attempt(kind, [])) out.push(kind);
  }
  if (before) await tf.setBackend(before);
  return out;
}

export { tf };
