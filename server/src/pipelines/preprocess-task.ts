/**
 * One unit of preprocessing work, as a worker thread (or the main thread, with no workers) runs it:
 * either a case given by files (read once, preprocessed for every requested configuration, written to
 * each configuration's folder) or a case given as volumes (result handed back with transferable buffers).
 */
import { z } from 'zod';
import type { Volume } from '../imaging/volume.js';
import { readImage } from '../io/image-file.js';
import { writePreprocessedCase } from '../io/nnunet-preprocessed.js';
import { preprocessCase, type DatasetJsonLabels, type PreprocessedCase } from '../nnunet/preprocessing/default-preprocessor.js';
import { parsePlans } from '../nnunet/plans/plans.js';

const DatasetLabelsSchema = z.looseObject({
  labels: z.record(z.string(), z.union([z.number().int(), z.array(z.number().int())])),
  regions_class_order: z.array(z.number().int()).nullable().optional(),
});

export const FilesTaskSchema = z.object({
  kind: z.literal('files'),
  caseId: z.string().min(1),
  images: z.array(z.string().min(1)).min(1),
  label: z.string().min(1).optional(),
  plans: z.unknown(),
  /** configuration name → output folder */
  outputs: z.record(z.string(), z.string().min(1)),
  datasetJson: DatasetLabelsSchema,
});
export type FilesTask = z.infer<typeof FilesTaskSchema>;

const VolumeMsgSchema = z.object({
  data: z.custom<Volume['data']>((d) => ArrayBuffer.isView(d), 'data must be a typed array'),
  shape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  spacing: z.tuple([z.number(), z.number(), z.number()]),
  origin: z.tuple([z.number(), z.number(), z.number()]),
  direction: z.array(z.number()).length(9),
});

export const VolumesTaskSchema = z.object({
  kind: z.literal('volumes'),
  caseId: z.string().min(1),
  images: z.array(VolumeMsgSchema).min(1),
  seg: VolumeMsgSchema.optional(),
  plans: z.unknown(),
  configuration: z.string().min(1),
  datasetJson: DatasetLabelsSchema,
});
export type VolumesTask = z.infer<typeof VolumesTaskSchema>;

export const PreprocessTaskSchema = z.discriminatedUnion('kind', [FilesTaskSchema, VolumesTaskSchema]);
export type PreprocessTask = z.infer<typeof PreprocessTaskSchema>;

export interface FilesTaskResult {
  caseId: string;
  /** configuration → preprocessed shape [z, y, x] */
  shapes: Record<string, number[]>;
  seconds: number;
}

export function transferListOf(pp: PreprocessedCase): ArrayBuffer[] {
  const list = [pp.data.buffer as ArrayBuffer];
  if (pp.seg) list.push(pp.seg.buffer as ArrayBuffer);
  for (const v of Object.values(pp.properties.class_locations ?? {})) list.push(v.buffer as ArrayBuffer);
  // a buffer may back several views; transfer each once
  return [...new Set(list)];
}

async function runFilesTask(task: FilesTask): Promise<FilesTaskResult> {
  const t0 = performance.now();
  const plans = parsePlans(task.plans);
  const images: Volume[] = [];
  for (const f of task.images) images.push(await readImage(f));
  const seg = task.label ? await readImage(task.label) : undefined;
  const shapes: Record<string, number[]> = {};
  for (const [configuration, folder] of Object.entries(task.outputs)) {
    let pp: PreprocessedCase;
    try {
      pp = preprocessCase(images, seg, plans, configuration, task.datasetJson as DatasetJsonLabels, task.caseId);
    } catch (e) {
      throw new Error(`case ${task.caseId}, configuration ${configuration}: ${(e as Error).message}`);
    }
    writePreprocessedCase(folder, task.caseId, pp);
    shapes[configuration] = [...pp.shape];
  }
  return { caseId: task.caseId, shapes, seconds: (performance.now() - t0) / 1000 };
}

function runVolumesTask(task: VolumesTask): PreprocessedCase {
  const plans = parsePlans(task.plans);
  const asVolume = (v: z.infer<typeof VolumeMsgSchema>): Volume => ({ ...v, direction: [...v.direction] });
  return preprocessCase(task.images.map(asVolume), task.seg ? asVolume(task.seg) : undefined, plans, task.configuration, task.datasetJson as DatasetJsonLabels, task.caseId);
}

/** Validates and runs one task. */
export async function runPreprocessTask(raw: unknown): Promise<{ output: FilesTaskResult | PreprocessedCase; transfer?: ArrayBuffer[] }> {
  const r = PreprocessTaskSchema.safeParse(raw);
  if (!r.success) throw new Error(`malformed preprocessing task: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const task = r.data;
  if (task.kind === 'files') return { output: await runFilesTask(task) };
  const pp = runVolumesTask(task);
  return { output: pp, transfer: transferListOf(pp) };
}
