/**
 * "Send correction": the edited labelmap goes to the server as a training label for the series. The
 * server has no route for it yet (protocol v1 has no message): the request format below is ours, with a
 * version field, for the api side to accept at `POST /api/corrections` (role annotator).
 * Body: the uint8 labels (x fastest, planes ascending along the normal, like `partial` slabs); metadata
 * in the `X-Nnseg-Correction` header as JSON.
 */
import { z } from 'zod';

export const CORRECTION_VERSION = 1;

export const CorrectionHeaderSchema = z.strictObject({
  version: z.literal(CORRECTION_VERSION),
  model: z.string().min(1),
  studyInstanceUID: z.string().regex(/^[0-9.]+$/),
  seriesInstanceUID: z.string().regex(/^[0-9.]+$/),
  /** the SEG the correction started from */
  sourceSegSOPInstanceUID: z.string().optional(),
  shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  /** label value → name, as in the model's dataset.json */
  labels: z.record(z.string(), z.number().int()),
});
export type CorrectionHeader = z.infer<typeof CorrectionHeaderSchema>;

export async function sendCorrection(
  httpBase: string,
  token: string | undefined,
  header: CorrectionHeader,
  labels: Uint8Array,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const h = CorrectionHeaderSchema.parse(header);
  if (labels.length !== h.shape[0] * h.shape[1] * h.shape[2]) throw new Error(`correction holds ${labels.length} labels, shape ${h.shape.join('×')} needs ${h.shape[0] * h.shape[1] * h.shape[2]}`);
  const res = await fetchImpl(`${httpBase.replace(/\/$/, '')}/api/corrections`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/octet-stream',
      'X-Nnseg-Correction': JSON.stringify(h),
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
