/**
 * "Send correction": the edited labelmap goes to the server as a training label for the series, at
 * `POST /api/corrections` (role annotator). The format (versioned) is shared with the server:
 * server/src/api/corrections-schema.ts. Body: the uint8 labels (x fastest, planes ascending along the
 * normal, like `partial` slabs); metadata in the `X-Nnseg-Correction` header as JSON.
 */
import { CORRECTION_HEADER, CorrectionHeaderSchema, correctionVoxels, type CorrectionHeader } from '../../server/src/contract/corrections.js';

export { CORRECTION_VERSION, CorrectionHeaderSchema, type CorrectionHeader } from '../../server/src/contract/corrections.js';

export async function sendCorrection(
  httpBase: string,
  token: string | undefined,
  header: CorrectionHeader,
  labels: Uint8Array,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const h = CorrectionHeaderSchema.parse(header);
  if (labels.length !== correctionVoxels(h)) throw new Error(`correction holds ${labels.length} labels, shape ${h.shape.join('×')} needs ${correctionVoxels(h)}`);
  const res = await fetchImpl(`${httpBase.replace(/\/$/, '')}/api/corrections`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/octet-stream',
      [CORRECTION_HEADER]: JSON.stringify(h),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: new Uint8Array(labels),
  });
  if (!res.ok) {
    let detail = '';
    try {
      const j = (await res.json()) as { error?: { message?: string } };
      detail = j.error?.message ?? '';
    } catch {
      /* not JSON */
    }
    throw new Error(res.status === 404 ? 'this server does not accept corrections (no /api/corrections route)' : `server refused the correction (${res.status}${detail ? `: ${detail}` : ''})`);
  }
}
