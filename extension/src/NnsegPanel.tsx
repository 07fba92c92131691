/**
 * The nnseg panel (right sidebar): server status, model picker, Segment on the active series, progress
 * with stage and ETA, cancel, partial overlay, final SEG overlay with per-segment statistics, Accept
 * (store in the PACS / download), Reject, Send correction. Every failure is shown here, never only in
 * the console. Rendered with the extension's own React into an element the host provides (index.tsx).
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ModelSummary } from '../../server/src/api/protocol.js';
import type { ConnectionStatus, JobHandle, ServerConnection } from './server-connection.js';
import { loadSegIntoViewport, type LoadedSeg } from './seg-loading.js';
import { formatEta, statsRows, type SegmentStatistics } from './stats-table.js';
import { PartialOverlay, activeDataSource, activeSeries, fetchInstanceBytes, readLabelmap, removeResult, storeSeg, type ViewerContext } from './viewer-actions.js';
import { sendCorrection } from './correction.js';
import type { NnsegRuntimeConfig } from './runtime-config.js';

type Phase = 'idle' | 'preparing' | 'uploading' | 'queued' | 'running' | 'loading' | 'done' | 'failed' | 'cancelled';

interface JobView {
  phase: Phase;
  stage?: string;
  percent: number;
  etaSeconds?: number;
  position?: number;
  note?: string;
}

interface ResultView {
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

export interface NnsegPanelProps {
  ctx: ViewerContext;
  connection: ServerConnection;
  config: NnsegRuntimeConfig;
}

function statusText(s: ConnectionStatus): string {
  switch (s.state) {
    case 'ready':
      return `Connected to ${s.welcome.server.name} ${s.welcome.server.version} as ${s.welcome.subject}`;
    case 'connecting':
      return s.attempt === 0 ? 'Connecting…' : `Connecting (attempt ${s.attempt + 1})…`;
    case 'reconnecting':
      return `Server unreachable (${s.reason}); retrying in ${Math.ceil(s.inMs / 1000)} s`;
    case 'failed':
      return `Not connected: ${s.code} — ${s.message}`;
    case 'closed':
      return 'Disconnected';
  }
}

const STAGE_NAMES: Record<string, string> = {
  queued: 'Waiting in queue',
  receiving: 'Receiving series',
  assembling: 'Reading series',
  preprocessing: 'Preprocessing',
  predicting: 'Running the model',
  postprocessing: 'Postprocessing',
  encoding: 'Writing DICOM SEG',
};

export function NnsegPanel({ ctx, connection, config }: NnsegPanelProps) {
  const [status, setStatus] = useState<ConnectionStatus>(connection.status);
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [modelName, setModelName] = useState<string>('');
  const [configuration, setConfiguration] = useState<string>('');
  const [job, setJob] = useState<JobView>({ phase: 'idle', percent: 0 });
  const [result, setResult] = useState<ResultView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const handleRef = useRef<JobHandle | null>(null);
  const partialRef = useRef<PartialOverlay | null>(null);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    const off = config.subscribeStatus((s) => mounted.current && setStatus(s));
    const offErr = config.subscribeServerErrors((e) => mounted.current && setError(`${e.code}: ${e.message}`));
    return () => {
      mounted.current = false;
      off();
      offErr();
    };
  }, [config]);

  useEffect(() => {
    if (status.state !== 'ready') return;
    let stop = false;
    connection
      .listModels()
      .then((m) => {
        if (stop) return;
        setModels(m);
        setModelName((cur) => (cur && m.some((x) => x.name === cur) ? cur : (m[0]?.name ?? '')));
      })
      .catch((e) => !stop && setError(`Could not list models: ${(e as Error).message}`));
    return () => {
      stop = true;
    };
  }, [status.state, connection]);

  const model = useMemo(() => models?.find((m) => m.name === modelName), [models, modelName]);
  useEffect(() => {
    if (!model) return;
    setConfiguration((cur) => (model.configurations.some((c) => c.name === cur) ? cur : (model.configurations[0]?.name ?? '')));
  }, [model]);

  const running = ['preparing', 'uploading', 'queued', 'running', 'loading'].includes(job.phase);

  const segment = useCallback(async () => {
    setError(null);
    if (!model) return setError('Pick a model first.');
    const series = activeSeries(ctx);
    if ('error' in series) return setError(series.error);
    if (result) {
      removeResult(ctx, result.loaded.segmentationId, result.loaded.displaySetInstanceUID);
      result.loaded.release();
      setResult(null);
    }
    const labelNames: Record<number, string> = {};
    for (const [name, v] of Object.entries(model.labels)) if (typeof v === 'number' && v > 0) labelNames[v] = name;
    const overlay = new PartialOverlay(ctx, series, labelNames);
    partialRef.current = overlay;
    const options = { model: model.name, ...(configuration ? { configuration } : {}), partials: true };
    const handlers = {
      onUploadProgress: (done: number, total: number) =>
        mounted.current && setJob((j) => (j.phase === 'uploading' || j.phase === 'preparing' ? { ...j, phase: 'uploading', stage: 'receiving', percent: total ? (100 * done) / total : 0 } : j)),
      onQueued: (q: { position: number }) => mounted.current && setJob((j) => ({ ...j, phase: 'queued', stage: 'queued', position: q.position, percent: 0 })),
      onProgress: (p: { stage: string; percent: number; etaSeconds?: number }) =>
        mounted.current && setJob((j) => ({ ...j, phase: 'running', stage: p.stage, percent: p.percent, etaSeconds: p.etaSeconds })),
      onPartial: (m: { z0: number; shape: [number, number, number] }, labels: Uint8Array) => {
        overlay.write({ z0: m.z0, shape: m.shape, labels }).catch((e) => mounted.current && setJob((j) => ({ ...j, note: `partial result not drawn: ${(e as Error).message}` })));
      },
    };
    setJob({ phase: 'preparing', percent: 0, stage: 'receiving' });
    try {
      const { isDicomWeb } = activeDataSource(ctx);
      let handle: JobHandle;
      if (isDicomWeb && config.serverReachesPacs) {
        handle = connection.segmentByReference(series.studyInstanceUID, series.seriesInstanceUID, options, handlers);
      } else {
        const bytes = await fetchInstanceBytes(ctx, series, (d, t) => mounted.current && setJob((j) => ({ ...j, note: `reading instance ${d}/${t}` })));
        setJob((j) => ({ ...j, phase: 'uploading', note: undefined }));
        handle = await connection.segmentPushed(bytes, options, handlers);
      }
      handleRef.current = handle;
      const outcome = await handle.done;
      handleRef.current = null;
      overlay.remove();
      if (outcome.kind === 'cancelled') {
        setJob({ phase: 'cancelled', percent: 0 });
        return;
      }
      if (outcome.kind === 'error') {
        setJob({ phase: 'failed', percent: 0 });
        setError(`${outcome.error.code}: ${outcome.error.message}`);
        return;
      }
      setJob({ phase: 'loading', stage: 'encoding', percent: 100 });
      const loaded = await loadSegIntoViewport(ctx.servicesManager.services, outcome.seg, series.viewportId);
      setResult({
        segments: outcome.result.segments,
        modality: series.modality,
        loaded,
        seg: outcome.seg,
        model: `${outcome.result.model.name} (${outcome.result.model.configuration}, folds ${outcome.result.model.folds.join(',')})`,
        studyInstanceUID: series.studyInstanceUID,
        seriesInstanceUID: series.seriesInstanceUID,
        sopInstanceUID: outcome.result.sopInstanceUID,
      });
      setJob({ phase: 'done', stage: 'encoding', percent: 100 });
    } catch (e) {
      handleRef.current = null;
      overlay.remove();
      setJob({ phase: 'failed', percent: 0 });
      setError((e as Error).message ?? String(e));
    }
  }, [ctx, connection, config, model, configuration, result]);

  const cancel = useCallback(() => {
    if (handleRef.current) handleRef.current.cancel();
    else setJob({ phase: 'cancelled', percent: 0 });
  }, []);

  const accept = useCallback(async () => {
    if (!result) return;
    setBusy(true);
    setError(null);
    try {
      const how = await storeSeg(ctx, result.seg, `nnseg-${result.sopInstanceUID}.dcm`);
      setResult({ ...result, stored: how });
    } catch (e) {
      setError(`Storing the SEG failed: ${(e as Error).message ?? e}`);
    } finally {
      setBusy(false);
    }
  }, [ctx, result]);

  const reject = useCallback(() => {
    if (!result) return;
    try {
      removeResult(ctx, result.loaded.segmentationId, result.loaded.displaySetInstanceUID);
    } catch (e) {
      setError(`Removing the result failed: ${(e as Error).message}`);
    }
    result.loaded.release();
    setResult(null);
    setJob({ phase: 'idle', percent: 0 });
  }, [ctx, result]);

  const correct = useCallback(async () => {
    if (!result || !model) return;
    setBusy(true);
    setError(null);
    try {
      const { shape, labels } = readLabelmap(ctx, result.loaded.segmentationId);
      const labelValues: Record<string, number> = {};
      for (const [name, v] of Object.entries(model.labels)) if (typeof v === 'number') labelValues[name] = v;
      await sendCorrection(config.httpBase, config.token, {
        version: 1,
        model: model.name,
        studyInstanceUID: result.studyInstanceUID,
        seriesInstanceUID: result.seriesInstanceUID,
        sourceSegSOPInstanceUID: result.sopInstanceUID,
        shape,
        labels: labelValues,
      }, labels);
      setResult({ ...result, correctionSent: true });
    } catch (e) {
      setError(`Sending the correction failed: ${(e as Error).message ?? e}`);
    } finally {
      setBusy(false);
    }
  }, [ctx, config, model, result]);

  const rows = result ? statsRows(result.segments, result.modality) : [];
  const ready = status.state === 'ready';

  return (
    <div data-testid="nnseg-panel" className="nnseg-panel" style={styles.panel}>
      <div style={styles.header}>nnseg</div>
      <div data-testid="nnseg-status" data-state={status.state} style={{ ...styles.status, color: ready ? '#7fd17f' : status.state === 'failed' ? '#ff7b7b' : '#e8c56a' }}>
        {statusText(status)}
      </div>

      <label style={styles.label}>
        Model
        <select data-testid="nnseg-model" style={styles.select} value={modelName} disabled={!models?.length || running} onChange={(e) => setModelName(e.target.value)}>
          {!models?.length && <option value="">{models ? 'no models on the server' : '…'}</option>}
          {models?.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      {model && (
        <div data-testid="nnseg-model-info" style={styles.info}>
          <div>Modality: {model.modality}</div>
          <div>
            Labels:{' '}
            {Object.entries(model.labels)
              .filter(([, v]) => v !== 0)
              .map(([n]) => n)
              .join(', ')}
          </div>
          <label style={styles.label}>
            Configuration
            <select data-testid="nnseg-configuration" style={styles.select} value={configuration} disabled={running} onChange={(e) => setConfiguration(e.target.value)}>
              {model.configurations.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name} (folds {c.folds.join(', ')})
                </option>
              ))}
            </select>
          </label>
        </div>
      )}

      <div style={styles.row}>
        <button data-testid="nnseg-segment" style={styles.button} disabled={!ready || !model || running} onClick={segment}>
          Segment active series
        </button>
        {running && (
          <button data-testid="nnseg-cancel" style={styles.secondary} onClick={cancel}>
            Cancel
          </button>
        )}
      </div>

      {job.phase !== 'idle' && (
        <div data-testid="nnseg-job" data-phase={job.phase} style={styles.job}>
          <div data-testid="nnseg-stage">
            {job.phase === 'cancelled'
              ? 'Cancelled'
              : job.phase === 'failed'
                ? 'Failed'
                : job.phase === 'done'
                  ? 'Done'
                  : job.phase === 'loading'
                    ? 'Loading result…'
                    : job.phase === 'queued'
                      ? `Queued (${job.position === 0 ? 'next' : `position ${job.position}`})`
                      : (STAGE_NAMES[job.stage ?? ''] ?? job.stage ?? 'Preparing')}
            {job.etaSeconds !== undefined && running ? ` · ${formatEta(job.etaSeconds)} left` : ''}
          </div>
          <div style={styles.barOuter}>
            <div data-testid="nnseg-progress" data-percent={Math.round(job.percent)} style={{ ...styles.barInner, width: `${Math.max(0, Math.min(100, job.percent))}%` }} />
          </div>
          <div style={styles.small}>{Math.round(job.percent)} %</div>
          {job.note && <div style={styles.small}>{job.note}</div>}
        </div>
      )}

      {error && (
        <div data-testid="nnseg-error" role="alert" style={styles.error}>
          {error}
          <button style={styles.link} onClick={() => setError(null)}>
            dismiss
          </button>
        </div>
      )}

      {result && (
        <div data-testid="nnseg-result" style={styles.result}>
          <div style={styles.small}>{result.model}</div>
          <table data-testid="nnseg-stats" style={styles.table}>
            <thead>
              <tr>
                <th style={styles.th}>Segment</th>
                <th style={styles.th}>Volume</th>
                <th style={styles.th}>Mean</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.segmentNumber} title={`range ${r.range}, ${r.voxels} voxels`}>
                  <td style={styles.td}>{r.name}</td>
                  <td style={styles.td}>{r.volume}</td>
                  <td style={styles.td}>{r.mean}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div style={styles.row}>
            <button data-testid="nnseg-accept" style={styles.button} disabled={busy || result.stored !== undefined} onClick={accept}>
              {activeDataSource(ctx).isDicomWeb ? 'Accept (store in PACS)' : 'Accept (save SEG file)'}
            </button>
            <button data-testid="nnseg-reject" style={styles.secondary} disabled={busy} onClick={reject}>
              Reject
            </button>
          </div>
          <button data-testid="nnseg-correction" style={styles.secondary} disabled={busy} onClick={correct}>
            Send correction
          </button>
          {result.stored && (
            <div data-testid="nnseg-accepted" style={styles.ok}>
              {result.stored === 'stored' ? `Stored in the PACS (SEG ${result.sopInstanceUID})` : 'SEG file saved'}
            </div>
          )}
          {result.correctionSent && (
            <div data-testid="nnseg-correction-sent" style={styles.ok}>
              Correction sent
            </div>
          )}
        </div>
      )}
    </div>
  );
}

const styles = {
  panel: { padding: 8, color: '#d6e1f0', fontSize: 13, fontFamily: 'inherit', display: 'flex', flexDirection: 'column' as const, gap: 8 },
  header: { fontWeight: 700, fontSize: 15, color: '#5acce6' },
  status: { fontSize: 12 },
  label: { display: 'flex', flexDirection: 'column' as const, gap: 2, fontSize: 12 },
  select: { background: '#0b1a2b', color: '#d6e1f0', border: '1px solid #3a3f58', borderRadius: 4, padding: 4 },
  info: { background: '#0b1a2b', borderRadius: 4, padding: 6, fontSize: 12, display: 'flex', flexDirection: 'column' as const, gap: 4 },
  row: { display: 'flex', gap: 6 },
  button: { background: '#348cfd', color: 'white', border: 0, borderRadius: 4, padding: '6px 10px', cursor: 'pointer' },
  secondary: { background: '#20263b', color: '#d6e1f0', border: '1px solid #3a3f58', borderRadius: 4, padding: '6px 10px', cursor: 'pointer' },
  link: { background: 'none', border: 0, color: '#5acce6', cursor: 'pointer', marginLeft: 6 },
  job: { display: 'flex', flexDirection: 'column' as const, gap: 4 },
  barOuter: { height: 8, background: '#20263b', borderRadius: 4, overflow: 'hidden' },
  barInner: { height: 8, background: '#5acce6', transition: 'width 0.3s' },
  small: { fontSize: 11, color: '#8a9bb5' },
  error: { background: '#4a1d22', color: '#ffd0d0', borderRadius: 4, padding: 6, fontSize: 12 },
  ok: { color: '#7fd17f', fontSize: 12 },
  result: { display: 'flex', flexDirection: 'column' as const, gap: 6 },
  table: { width: '100%', borderCollapse: 'collapse' as const, fontSize: 12 },
  th: { textAlign: 'left' as const, borderBottom: '1px solid #3a3f58', padding: '2px 4px' },
  td: { padding: '2px 4px', borderBottom: '1px solid #20263b' },
};
