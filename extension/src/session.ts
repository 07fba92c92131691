/**
 * The panel's state and actions, outside React: the host switches right-panel tabs (the stock
 * segmentation mode jumps to its own labelmap panel when a segmentation appears), which unmounts our
 * panel; a running job, its result and any error must survive that. One session per page; the panel
 * renders `getState()` and re-renders on `subscribe`.
 */
import type { ModelSummary } from '../../server/src/contract/protocol.js';
import type { ConnectionStatus, JobHandle, ServerConnection } from './server-connection.js';
import { loadSegIntoViewport, type LoadedSeg } from './seg-loading.js';
import type { SegmentStatistics } from './stats-table.js';
import { PartialOverlay, activeDataSource, activeSeries, fetchInstanceBytes, readLabelmap, removeResult, storeSeg, type ViewerContext } from './viewer-actions.js';
import { sendCorrection } from './correction.js';
import type { NnsegRuntimeConfig } from './runtime-config.js';
import { mergeEpochs, type TrainingView } from './training-view.js';
import type { TrainingUpdateMessage } from '../../server/src/contract/protocol.js';

export type Phase = 'idle' | 'preparing' | 'uploading' | 'queued' | 'running' | 'loading' | 'done' | 'failed' | 'cancelled';

export interface JobView {
  phase: Phase;
  stage?: string;
  percent: number;
  etaSeconds?: number;
  position?: number;
  note?: string;
  /** partial slabs drawn so far */
  partials?: number;
}

export interface ResultView {
  segments: SegmentStatistics[];
  modality: string;
  loaded: LoadedSeg;
  seg: Uint8Array;
  model: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
  stored?: 'stored' | 'downloaded';
  correctionSent?: boolean;
}

export interface SessionState {
  status: ConnectionStatus;
  models: ModelSummary[] | null;
  modelName: string;
  configuration: string;
  job: JobView;
  result: ResultView | null;
  error: string | null;
  busy: boolean;
  /** the train job this viewer started or follows (admin) */
  training: TrainingView | null;
}

export const RUNNING_PHASES: Phase[] = ['preparing', 'uploading', 'queued', 'running', 'loading'];

export class NnsegSession {
  private state: SessionState;
  private readonly listeners = new Set<() => void>();
  private handle: JobHandle | null = null;
  ctx: ViewerContext | null = null;

  constructor(
    readonly connection: ServerConnection,
    readonly config: NnsegRuntimeConfig,
  ) {
    this.state = { status: connection.status, models: null, modelName: '', configuration: '', job: { phase: 'idle', percent: 0 }, result: null, error: null, busy: false, training: null };
    config.subscribeStatus((status) => {
      const wasReady = this.state.status.state === 'ready';
      this.set({ status });
      if (status.state === 'ready' && !wasReady) void this.refreshModels();
    });
    config.subscribeServerErrors((e) => this.set({ error: `${e.code}: ${e.message}` }));
  }

  getState = (): SessionState => this.state;

  subscribe = (cb: () => void): (() => void) => {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  };

  private set(patch: Partial<SessionState>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l();
  }

  private setJob(f: (j: JobView) => JobView): void {
    this.set({ job: f(this.state.job) });
  }

  get model(): ModelSummary | undefined {
    return this.state.models?.find((m) => m.name === this.state.modelName);
  }

  get running(): boolean {
    return RUNNING_PHASES.includes(this.state.job.phase);
  }

  async refreshModels(): Promise<void> {
    try {
      const models = await this.connection.listModels();
      const modelName = this.state.modelName && models.some((m) => m.name === this.state.modelName) ? this.state.modelName : (models[0]?.name ?? '');
      this.set({ models });
      this.selectModel(modelName);
    } catch (e) {
      this.set({ error: `Could not list models: ${(e as Error).message}` });
    }
  }

  selectModel(name: string): void {
    const m = this.state.models?.find((x) => x.name === name);
    const configuration = m?.configurations.some((c) => c.name === this.state.configuration) ? this.state.configuration : (m?.configurations[0]?.name ?? '');
    this.set({ modelName: name, configuration });
  }

  selectConfiguration(name: string): void {
    this.set({ configuration: name });
  }

  dismissError(): void {
    this.set({ error: null });
  }

  private requireCtx(): ViewerContext {
    if (!this.ctx) throw new Error('the nnseg panel has not been opened in a viewer yet');
    return this.ctx;
  }

  async segment(): Promise<void> {
    this.set({ error: null });
    const model = this.model;
    if (!model) return this.set({ error: 'Pick a model first.' });
    if (this.running) return;
    const ctx = this.requireCtx();
    const series = activeSeries(ctx);
    if ('error' in series) return this.set({ error: series.error });
    const old = this.state.result;
    if (old) {
      try {
        removeResult(ctx, old.loaded.segmentationId, old.loaded.displaySetInstanceUID);
      } catch {
        /* already gone */
      }
      old.loaded.release();
      this.set({ result: null });
    }
    const labelNames: Record<number, string> = {};
    for (const [name, v] of Object.entries(model.labels)) if (typeof v === 'number' && v > 0) labelNames[v] = name;
    const overlay = new PartialOverlay(ctx, series, labelNames);
    const options = { model: model.name, ...(this.state.configuration ? { configuration: this.state.configuration } : {}), partials: true };
    const handlers = {
      onUploadProgress: (done: number, total: number) =>
        this.setJob((j) => (j.phase === 'uploading' || j.phase === 'preparing' ? { ...j, phase: 'uploading', stage: 'receiving', percent: total ? (100 * done) / total : 0 } : j)),
      onQueued: (q: { position: number }) => this.setJob((j) => ({ ...j, phase: 'queued', stage: 'queued', position: q.position, percent: 0 })),
      onProgress: (p: { stage: string; percent: number; etaSeconds?: number }) => this.setJob((j) => ({ ...j, phase: 'running', stage: p.stage, percent: p.percent, etaSeconds: p.etaSeconds })),
      onPartial: (m: { z0: number; shape: [number, number, number] }, labels: Uint8Array) => {
        overlay
          .write({ z0: m.z0, shape: m.shape, labels })
          .then(() => this.setJob((j) => ({ ...j, partials: (j.partials ?? 0) + 1 })))
          .catch((e) => this.setJob((j) => ({ ...j, note: `partial result not drawn: ${(e as Error).message}` })));
      },
    };
    this.set({ job: { phase: 'preparing', percent: 0, stage: 'receiving' } });
    try {
      const { isDicomWeb } = activeDataSource(ctx);
      if (isDicomWeb && this.config.serverReachesPacs) {
        this.handle = this.connection.segmentByReference(series.studyInstanceUID, series.seriesInstanceUID, options, handlers);
      } else {
        const bytes = await fetchInstanceBytes(ctx, series, (d, t) => this.setJob((j) => ({ ...j, note: `reading instance ${d}/${t}` })));
        this.setJob((j) => ({ ...j, phase: 'uploading', note: undefined }));
        this.handle = await this.connection.segmentPushed(bytes, options, handlers);
      }
      const outcome = await this.handle.done;
      this.handle = null;
      overlay.remove();
      if (outcome.kind === 'cancelled') return this.set({ job: { phase: 'cancelled', percent: 0 } });
      if (outcome.kind === 'error') return this.set({ job: { phase: 'failed', percent: 0 }, error: `${outcome.error.code}: ${outcome.error.message}` });
      this.setJob((j) => ({ phase: 'loading', stage: 'encoding', percent: 100, partials: j.partials }));
      const loaded = await loadSegIntoViewport(ctx.servicesManager.services, outcome.seg, series.viewportId);
      this.set({
        result: {
          segments: outcome.result.segments,
          modality: series.modality,
          loaded,
          seg: outcome.seg,
          model: `${outcome.result.model.name} (${outcome.result.model.configuration}, folds ${outcome.result.model.folds.join(',')})`,
          studyInstanceUID: series.studyInstanceUID,
          seriesInstanceUID: series.seriesInstanceUID,
          sopInstanceUID: outcome.result.sopInstanceUID,
        },
        job: { phase: 'done', stage: 'encoding', percent: 100, partials: this.state.job.partials },
      });
      // the stock mode switches to its own segmentation panel when a segmentation appears: come back
      const panelService = ctx.servicesManager.services.panelService as { activatePanel?(id: string, force?: boolean): void } | undefined;
      setTimeout(() => panelService?.activatePanel?.('@nnseg/extension.panelModule.nnseg', true), 300);
    } catch (e) {
      this.handle = null;
      overlay.remove();
      this.set({ job: { phase: 'failed', percent: 0 }, error: (e as Error).message ?? String(e) });
    }
  }

  cancel(): void {
    if (this.handle) this.handle.cancel();
    else if (this.running) this.set({ job: { phase: 'cancelled', percent: 0 } });
  }

  async accept(): Promise<void> {
    const result = this.state.result;
    if (!result) return;
    this.set({ busy: true, error: null });
    try {
      const how = await storeSeg(this.requireCtx(), result.seg, `nnseg-${result.sopInstanceUID}.dcm`);
      this.set({ result: { ...result, stored: how } });
    } catch (e) {
      this.set({ error: `Storing the SEG failed: ${(e as Error).message ?? e}` });
    } finally {
      this.set({ busy: false });
    }
  }

  reject(): void {
    const result = this.state.result;
    if (!result) return;
    try {
      removeResult(this.requireCtx(), result.loaded.segmentationId, result.loaded.displaySetInstanceUID);
    } catch (e) {
      this.set({ error: `Removing the result failed: ${(e as Error).message}` });
    }
    result.loaded.release();
    this.set({ result: null, job: { phase: 'idle', percent: 0 } });
  }

  /** Admins: the token's role allows train jobs. */
  get canTrain(): boolean {
    return this.state.status.state === 'ready' && this.state.status.welcome.role === 'admin';
  }

  private onTrainingUpdate = (u: TrainingUpdateMessage): void => {
    const current = this.state.training;
    const epochs = current?.summary.id === u.training.id ? mergeEpochs(current.epochs, u.epochs) : u.epochs;
    this.set({ training: { summary: u.training, epochs } });
    // the new version is served at once: list it
    if (u.training.state === 'succeeded' && current?.summary.state !== 'succeeded') void this.refreshModels();
  };

  /**
   * Fine-tunes the selected model on the corrections sent for it and registers the result as its next
   * version (same name): nnU-Net's recipe from the model's own weights, `epochs` long.
   */
  async trainOnCorrections(epochs: number): Promise<void> {
    const model = this.model;
    if (!model) return this.set({ error: 'Pick a model first.' });
    const configuration = this.state.configuration;
    if (!['2d', '3d_fullres', '3d_lowres'].includes(configuration)) return this.set({ error: `Configuration ${configuration} cannot be trained here (2d, 3d_fullres, 3d_lowres).` });
    this.set({ error: null, busy: true });
    try {
      await this.connection.train(
        {
          source: { kind: 'corrections', model: model.name },
          configuration: configuration as '2d' | '3d_fullres' | '3d_lowres',
          registerAs: model.name,
          pretrained: model.name,
          epochs,
        },
        this.onTrainingUpdate,
      );
    } catch (e) {
      this.set({ error: `Training could not start: ${(e as Error).message}` });
    } finally {
      this.set({ busy: false });
    }
  }

  async controlTraining(action: 'cancel' | 'resume'): Promise<void> {
    const t = this.state.training;
    if (!t) return;
    try {
      await this.connection.controlTraining(t.summary.id, action, this.onTrainingUpdate);
      if (action === 'resume') this.set({ error: null });
    } catch (e) {
      this.set({ error: `Could not ${action} the training: ${(e as Error).message}` });
    }
  }

  async sendCorrection(): Promise<void> {
    const result = this.state.result;
    const model = this.model;
    if (!result || !model) return;
    this.set({ busy: true, error: null });
    try {
      const { shape, labels } = readLabelmap(this.requireCtx(), result.loaded.segmentationId);
      const labelValues: Record<string, number> = {};
      for (const [name, v] of Object.entries(model.labels)) if (typeof v === 'number') labelValues[name] = v;
      await sendCorrection(
        this.config.httpBase,
        this.config.token,
        { version: 1, model: model.name, studyInstanceUID: result.studyInstanceUID, seriesInstanceUID: result.seriesInstanceUID, sourceSegSOPInstanceUID: result.sopInstanceUID, shape, labels: labelValues },
        labels,
      );
      this.set({ result: { ...result, correctionSent: true } });
    } catch (e) {
      this.set({ error: `Sending the correction failed: ${(e as Error).message ?? e}` });
    } finally {
      this.set({ busy: false });
    }
  }
}
