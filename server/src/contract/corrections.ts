/**
 * "Send correction" formats, shared by the viewer (extension/src/correction.ts bundles this file: no
 * Node-only imports here) and the server (`POST /api/corrections`, server/src/api/corrections.ts).
 *
 * Request: body = uint8 labels, x fastest, planes ascending along the slice normal (the `partial` slab
 * layout of docs/protocol.md, i.e. the series grid of server/src/dicom/series-to-volume.ts); metadata as
 * JSON in the `X-Nnseg-Correction` header. Stored: `correction.json` = the header + what the server adds.
 */
import { z } from 'zod';

export const CORRECTION_VERSION = 1;
/** the request header carrying the JSON metadata */
export const CORRECTION_HEADER = 'X-Nnseg-Correction';

const uid = z.string().regex(/^[0-9]+(\.[0-9]+)*$/, 'must be a DICOM UID (digits and dots)').max(64);

export const CorrectionHeaderSchema = z
  .strictObject({
    version: z.literal(CORRECTION_VERSION),
    model: z.string().min(1).max(200),
    studyInstanceUID: uid,
    seriesInstanceUID: uid,
    /** the SEG the correction started from */
    sourceSegSOPInstanceUID: uid.optional(),
    /** [nz, ny, nx] of the series grid */
    shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    /** label name → value, as in the model's dataset.json (`labels`); values fit in uint8 */
    labels: z.record(z.string().min(1), z.number().int().min(0).max(255)),
  })
  .superRefine((h, ctx) => {
    const seen = new Map<number, string>();
    for (const [name, v] of Object.entries(h.labels)) {
      const other = seen.get(v);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['labels', name], message: `value ${v} is also used by "${other}"` });
      seen.set(v, name);
    }
    if (!seen.has(0)) ctx.addIssue({ code: 'custom', path: ['labels'], message: 'must contain the background value 0' });
  });
export type CorrectionHeader = z.infer<typeof CorrectionHeaderSchema>;

/** `correction.json` of a stored correction: the request header plus what the server knows (no patient data). */
export const StoredCorrectionSchema = z.strictObject({
  id: z.uuid(),
  header: CorrectionHeaderSchema,
  /** ISO 8601 time the server stored it */
  receivedAt: z.iso.datetime({ offset: true }),
  /** subject of the token that sent it */
  subject: z.string(),
  /** bytes of labels.u8 (= the product of header.shape) */
  byteLength: z.number().int().positive(),
});
export type StoredCorrection = z.infer<typeof StoredCorrectionSchema>;

/** Parses the header JSON; the error names the offending field. */
export function parseCorrectionHeader(text: string | undefined): { ok: true; header: CorrectionHeader } | { ok: false; message: string } {
  if (text === undefined || text === '') return { ok: false, message: `missing ${CORRECTION_HEADER} header (JSON metadata of the correction)` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `${CORRECTION_HEADER} is not valid JSON (${(e as Error).message})` };
  }
  const r = CorrectionHeaderSchema.safeParse(raw);
  if (!r.success) return { ok: false, message: `${CORRECTION_HEADER}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  return { ok: true, header: r.data };
}

/** Voxels (= body bytes) a header announces. */
export function correctionVoxels(h: Pick<CorrectionHeader, 'shape'>): number {
  return h.shape[0] * h.shape[1] * h.shape[2];
}

/** A 256-entry table: 1 where the header's label set allows the value. */
export function allowedLabelTable(h: Pick<CorrectionHeader, 'labels'>): Uint8Array {
  const ok = new Uint8Array(256);
  for (const v of Object.values(h.labels)) ok[v] = 1;
  return ok;
}

/** The first voxel whose value the table does not allow (index counted from `offset`), or undefined. */
export function firstForeignLabel(labels: Uint8Array, allowed: Uint8Array, offset = 0): { index: number; value: number } | undefined {
  for (let i = 0; i < labels.length; i++) if (!allowed[labels[i]]) return { index: offset + i, value: labels[i] };
  return undefined;
}
