/** Counters and gauges of the API, rendered as Prometheus text exposition format 0.0.4. */
import type { JobRecord, JobState } from '../jobs/types.js';

export class ApiMetrics {
  uploadBytes = 0;
  uploadChunks = 0;
  uploadsStarted = 0;
  uploadsCompleted = 0;
  wsConnections = 0;
  wsConnectionsTotal = 0;
  wsRejected = 0;
  protocolErrors = new Map<string, number>();
  httpRequests = 0;
  jobsSubmitted = 0;

  countError(code: string): void {
    this.protocolErrors.set(code, (this.protocolErrors.get(code) ?? 0) + 1);
  }

  render(jobs: JobRecord[], extra: { modelsLoaded?: number; modelBytes?: number } = {}): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [labels: string, value: number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    const states: JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
    const byState = new Map<JobState, number>(states.map((s) => [s, 0]));
    for (const j of jobs) byState.set(j.state, (byState.get(j.state) ?? 0) + 1);
    metric('nnseg_jobs', 'gauge', 'Jobs known to the queue by state.', states.map((s) => [`{state="${s}"}`, byState.get(s)!]));
    metric('nnseg_queue_length', 'gauge', 'Jobs waiting to run.', [['', byState.get('queued')!]]);
    metric('nnseg_jobs_submitted_total', 'counter', 'Jobs submitted through this API process.', [['', this.jobsSubmitted]]);
    metric('nnseg_upload_bytes_total', 'counter', 'Instance bytes received and written to upload spools.', [['', this.uploadBytes]]);
    metric('nnseg_upload_chunks_total', 'counter', 'Instance chunks received.', [['', this.uploadChunks]]);
    metric('nnseg_uploads_started_total', 'counter', 'Pushed series whose upload started.', [['', this.uploadsStarted]]);
    metric('nnseg_uploads_completed_total', 'counter', 'Pushed series received completely.', [['', this.uploadsCompleted]]);
    metric('nnseg_ws_connections', 'gauge', 'Open WebSocket connections.', [['', this.wsConnections]]);
    metric('nnseg_ws_connections_total', 'counter', 'WebSocket connections accepted.', [['', this.wsConnectionsTotal]]);
    metric('nnseg_ws_rejected_total', 'counter', 'WebSocket upgrades refused (origin, token, path).', [['', this.wsRejected]]);
    metric('nnseg_http_requests_total', 'counter', 'HTTP requests served.', [['', this.httpRequests]]);
    metric(
      'nnseg_protocol_errors_total',
      'counter',
      'Error messages sent to clients by code.',
      [...this.protocolErrors.entries()].sort().map(([code, n]) => [`{code="${code}"}`, n]),
    );
    if (extra.modelsLoaded !== undefined) metric('nnseg_models_loaded', 'gauge', 'Models loaded and kept warm.', [['', extra.modelsLoaded]]);
    if (extra.modelBytes !== undefined) metric('nnseg_model_bytes_estimated', 'gauge', 'Estimated memory of the loaded models.', [['', extra.modelBytes]]);
    return `${lines.join('\n')}\n`;
  }
}
