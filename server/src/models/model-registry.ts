/**
 * The model store behind the server: models are loaded lazily on first use and kept warm in an LRU bounded by
 * a memory budget, so a second job on the same model skips the onnxruntime session creation.
 *
 * Memory estimate of a loaded model: (sum of its ONNX files' bytes) × `memoryFactor` + `sessionOverheadBytes`
 * per fold session. onnxruntime keeps the initializers (≈ the file) in its own arena, the worker thread and
 * its heap come on top, and the first run grows the arena by the activations of one patch; factor 3 plus
 * 64 MiB per session was a conservative fit for the models we load. The budget is soft: a model in use is
 * never evicted, so when every warm model is busy the total can exceed it until one is released.
 *
 * The store is read fresh on every `list()`/`acquire()`: a model imported by another process shows up without
 * a restart, and a model replaced in place (new importedAt) is loaded anew — the cached entry of the old
 * version is dropped once nobody uses it. `invalidate(name)` does the same right after a delete or replace.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { JobError } from '../contract/job-errors.js';
import { chooseConfiguration, LoadedModel, type LoadOptions } from './loaded-model.js';
import type { ModelStore, StoredModel } from './model-store.js';

export interface ModelRegistryOptions {
  /** default 4 GiB */
  memoryBudgetBytes?: number;
  /** default 3 */
  memoryFactor?: number;
  /** default 64 MiB */
  sessionOverheadBytes?: number;
  /** device / threads for every load (per-acquire options override) */
  defaults?: Pick<LoadOptions, 'device' | 'intraOpThreads'>;
  /** called (synchronously) whenever the set of warm models or their use counts change */
  onChange?: () => void;
}

/** The plain-data part of the options, to build an equal registry elsewhere (an inference thread). */
export type ModelRegistrySettings = Omit<ModelRegistryOptions, 'onChange'>;

export interface AcquiredModel {
  model: LoadedModel;
  stored: StoredModel;
  /** give the model back; idempotent */
  release(): void;
}

export interface WarmModelInfo {
  key: string;
  name: string;
  version: string;
  estimatedBytes: number;
  inUse: number;
  lastUsed: number;
}

interface Entry {
  key: string;
  name: string;
  version: string;
  estimatedBytes: number;
  loading: Promise<LoadedModel>;
  model?: LoadedModel;
  refs: number;
  lastUsed: number;
}

const DEFAULT_BUDGET = 4 * 1024 ** 3;

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();
  /** invalidated or superseded entries still in use: released when their last user is done */
  private readonly retired = new Set<Entry>();
  private readonly budget: number;
  private readonly factor: number;
  private readonly overhead: number;
  private tick = 0;
  private closed = false;
  /** warm models other registries (inference threads) reported, by source */
  private readonly external = new Map<string, WarmModelInfo[]>();
  private readonly invalidateListeners = new Set<(name: string) => void>();

  constructor(
    readonly store: ModelStore,
    private readonly options: ModelRegistryOptions = {},
  ) {
    this.budget = options.memoryBudgetBytes ?? DEFAULT_BUDGET;
    this.factor = options.memoryFactor ?? 3;
    this.overhead = options.sessionOverheadBytes ?? 64 * 1024 ** 2;
  }

  /** The options as plain data (no callbacks), for a registry in another thread. */
  settings(): ModelRegistrySettings {
    const { onChange: _ignored, ...rest } = this.options;
    return { ...rest, memoryBudgetBytes: this.budget, memoryFactor: this.factor, sessionOverheadBytes: this.overhead };
  }

  /**
   * Registries in inference threads own the loaded models when jobs run off the main thread; they report
   * what they hold here so `warm()` and `estimatedBytesInUse()` describe the whole server. `undefined` forgets
   * a source (its thread ended).
   */
  reportExternal(source: string, warm: WarmModelInfo[] | undefined): void {
    if (warm) this.external.set(source, warm);
    else this.external.delete(source);
  }

  /** Listens to `invalidate(name)` (the queue forwards it to its inference threads); returns the unsubscribe. */
  onInvalidate(listener: (name: string) => void): () => void {
    this.invalidateListeners.add(listener);
    return () => this.invalidateListeners.delete(listener);
  }

  /** Models in the store right now (read fresh), and folders whose card is unreadable. */
  list(): ReturnType<ModelStore['list']> {
    return this.store.list();
  }

  /** The stored model (card read fresh); UNKNOWN_MODEL when the store has none of that name. */
  get(name: string): StoredModel {
    try {
      return this.store.get(name);
    } catch (e) {
      throw new JobError('UNKNOWN_MODEL', (e as Error).message, { cause: e });
    }
  }

  /** The memory a loaded model is assumed to take (see the file comment). */
  estimateBytes(stored: StoredModel, options: Pick<LoadOptions, 'configuration' | 'folds'> = {}): number {
    let total = 0;
    const addConfiguration = (configurationName: string | undefined, folds?: string[]) => {
      const c = chooseConfiguration(stored.card, configurationName);
      for (const f of c.folds) {
        if (folds && !folds.includes(f.fold)) continue;
        let size = 0;
        try {
          size = statSync(join(stored.path, c.folder, `fold_${f.fold}`, f.onnx)).size;
        } catch {
          /* a missing file fails at load time with a clear message */
        }
        total += size * this.factor + this.overhead;
      }
      if (c.previousStage) addConfiguration(c.previousStage);
    };
    addConfiguration(options.configuration, options.folds);
    return total;
  }

  /**
   * A loaded model for `name`, loading it when it is not warm. UNKNOWN_MODEL for a name the store lacks (or a
   * configuration/fold it lacks), MODEL_FAILED when loading fails. Call `release()` when done.
   */
  async acquire(name: string, loadOptions: Omit<LoadOptions, 'device' | 'intraOpThreads'> & Partial<LoadOptions> = {}): Promise<AcquiredModel> {
    if (this.closed) throw new JobError('INTERNAL', 'the model registry is closed');
    const stored = this.get(name);
    const options: LoadOptions = { ...this.options.defaults, ...loadOptions };
    let configuration: string;
    try {
      configuration = chooseConfiguration(stored.card, options.configuration).configuration;
      const folds = chooseConfiguration(stored.card, configuration).folds.map((f) => f.fold);
      const missing = options.folds?.filter((f) => !folds.includes(f)) ?? [];
      if (missing.length) throw new Error(`model "${name}" ${configuration} has no fold ${missing.join(', ')} (has ${folds.join(', ')})`);
    } catch (e) {
      throw new JobError('UNKNOWN_MODEL', (e as Error).message, { cause: e });
    }
    const version = stored.card.importedAt;
    const key = JSON.stringify([name, version, configuration, options.folds ?? null, options.postprocess !== false, options.device ?? null, options.intraOpThreads ?? null]);
    // an older version of the same model: drop it once unused
    for (const e of [...this.entries.values()]) if (e.name === name && e.version !== version) this.retire(e);

    let entry = this.entries.get(key);
    if (!entry) {
      const estimatedBytes = this.estimateBytes(stored, { configuration, folds: options.folds });
      const created: Entry = { key, name, version, estimatedBytes, refs: 0, lastUsed: 0, loading: undefined as never };
      created.loading = LoadedModel.load(stored, { ...options, configuration }).then(
        (m) => (created.model = m),
        (e) => {
          if (this.entries.get(key) === created) this.entries.delete(key);
          this.retired.delete(created);
          throw new JobError('MODEL_FAILED', `model "${name}" could not be loaded: ${(e as Error).message}`, { cause: e });
        },
      );
      this.entries.set(key, created);
      entry = created;
    }
    entry.refs++;
    entry.lastUsed = ++this.tick;
    let model: LoadedModel;
    try {
      model = await entry.loading;
    } catch (e) {
      entry.refs--;
      this.changed();
      throw e;
    }
    this.changed();
    // make room for this one (it is in use, so never itself evicted)
    await this.evict();
    let released = false;
    const e = entry;
    return {
      model,
      stored,
      release: () => {
        if (released) return;
        released = true;
        e.refs--;
        e.lastUsed = ++this.tick;
        this.changed();
        void this.evict();
      },
    };
  }

  /** Drop every warm copy of `name` (after a delete or replace); copies in use go when released. */
  async invalidate(name: string): Promise<void> {
    for (const e of [...this.entries.values()]) if (e.name === name) this.retire(e);
    for (const l of this.invalidateListeners) l(name);
    await this.evict();
  }

  /** What is warm now, least recently used first; then what inference threads reported (see reportExternal). */
  warm(): WarmModelInfo[] {
    const own = [...this.entries.values(), ...this.retired]
      .filter((e) => e.model)
      .sort((a, b) => a.lastUsed - b.lastUsed)
      .map((e) => ({ key: e.key, name: e.name, version: e.version, estimatedBytes: e.estimatedBytes, inUse: e.refs, lastUsed: e.lastUsed }));
    for (const [source, list] of this.external) for (const w of list) own.push({ ...w, key: `${source}:${w.key}` });
    return own;
  }

  /** Sum of the estimates of every loaded (or loading) model, retired ones still in use included, threads' too. */
  estimatedBytesInUse(): number {
    let n = this.ownBytesInUse();
    for (const list of this.external.values()) for (const w of list) n += w.estimatedBytes;
    return n;
  }

  private ownBytesInUse(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.estimatedBytes;
    for (const e of this.retired) n += e.estimatedBytes;
    return n;
  }

  private changed(): void {
    try {
      this.options.onChange?.();
    } catch {
      /* a listener's problem is not the registry's */
    }
  }

  /** Releases every model (those in use too: only call when no job runs any more). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values(), ...this.retired];
    this.entries.clear();
    this.retired.clear();
    this.external.clear();
    await Promise.all(all.map((e) => e.loading.then((m) => m.release(), () => {})));
  }

  private retire(e: Entry): void {
    this.entries.delete(e.key);
    this.retired.add(e);
  }

  /** Unload retired unused entries, then least-recently-used unused ones while over budget. */
  private async evict(): Promise<void> {
    const victims: Entry[] = [];
    for (const e of this.retired)
      if (e.refs === 0 && e.model) {
        this.retired.delete(e);
        victims.push(e);
      }
    let total = this.ownBytesInUse();
    if (total > this.budget) {
      const idle = [...this.entries.values()].filter((e) => e.refs === 0 && e.model).sort((a, b) => a.lastUsed - b.lastUsed);
      for (const e of idle) {
        if (total <= this.budget) break;
        this.entries.delete(e.key);
        victims.push(e);
        total -= e.estimatedBytes;
      }
    }
    if (victims.length) this.changed();
    await Promise.all(victims.map((v) => v.model!.release()));
  }
}
