/**
 * The nnseg panel (right sidebar): server status, model picker, Segment on the active series, progress
 * with stage and ETA, cancel, partial overlay, final SEG overlay with per-segment statistics, Accept
 * (store in the PACS / download), Reject, Send correction; for admins, fine-tuning the model on its
 * corrections with a live learning curve. Every failure is shown here, never only in
 * the console. Rendered with the extension's own React into an element the host provides (index.tsx).
 */
import { useState, useSyncExternalStore } from 'react';
import { emaPolyline, trainingStatusLine } from './training-view.js';
import type { ConnectionStatus } from './server-connection.js';
import { formatEta, statsRows } from './stats-table.js';
import { activeDataSource, type ViewerContext } from './viewer-actions.js';
import type { NnsegSession } from './session.js';

export interface NnsegPanelProps {
  ctx: ViewerContext;
  session: NnsegSession;
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

export function NnsegPanel({ ctx, session }: NnsegPanelProps) {
  const { status, models, modelName, configuration, job, result, error, busy, training } = useSyncExternalStore(session.subscribe, session.getState);
  const [trainEpochs, setTrainEpochs] = useState(50);
  const model = models?.find((m) => m.name === modelName);
  const running = session.running;
  const segment = () => void session.segment();
  const cancel = () => session.cancel();
  const accept = () => void session.accept();
  const reject = () => session.reject();
  const correct = () => void session.sendCorrection();
  const setModelName = (n: string) => session.selectModel(n);
  const setConfiguration = (n: string) => session.selectConfiguration(n);
  const setError = (_: null) => session.dismissError();

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
        <div data-testid="nnseg-job" data-phase={job.phase} data-partials={job.partials ?? 0} style={styles.job}>
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

      {session.canTrain && model && (
        <div data-testid="nnseg-training" style={styles.info}>
          <div style={{ fontWeight: 600 }}>Improve “{model.name}” with its corrections</div>
          <label style={styles.label}>
            Epochs
            <input
              data-testid="nnseg-train-epochs"
              type="number"
              min={1}
              max={1000}
              value={trainEpochs}
              style={styles.select}
              onChange={(e) => setTrainEpochs(Math.max(1, Math.min(1000, Math.round(Number(e.target.value) || 1))))}
            />
          </label>
          <div style={styles.row}>
            <button
              data-testid="nnseg-train"
              style={styles.secondary}
              disabled={busy || training?.summary.state === 'running' || training?.summary.state === 'queued'}
              onClick={() => void session.trainOnCorrections(trainEpochs)}
            >
              Fine-tune on corrections
            </button>
            {(training?.summary.state === 'running' || training?.summary.state === 'queued') && (
              <button data-testid="nnseg-train-cancel" style={styles.secondary} onClick={() => void session.controlTraining('cancel')}>
                Stop
              </button>
            )}
            {training && ['cancelled', 'failed', 'interrupted'].includes(training.summary.state) && (
              <button data-testid="nnseg-train-resume" style={styles.secondary} onClick={() => void session.controlTraining('resume')}>
                Resume
              </button>
            )}
          </div>
          {training && (
            <div data-testid="nnseg-training-status" data-state={training.summary.state} data-epochs={training.epochs.length} style={styles.small}>
              {trainingStatusLine(training)}
              {training.epochs.length > 1 && (
                <svg width={200} height={40} style={{ display: 'block', background: '#0f2236', marginTop: 4 }} aria-label="EMA pseudo Dice per epoch">
                  <polyline fill="none" stroke="#5acce6" strokeWidth={1.5} points={emaPolyline(training.epochs, 200, 40)} />
                </svg>
              )}
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
