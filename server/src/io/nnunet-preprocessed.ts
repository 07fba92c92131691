/**
 * Our preprocessed-case format (nnseg-preprocessed, version 1), in the layout of nnU-Net's numpy dataset
 * (nnunetv2 `nnUNetDatasetNumpy`: <case>.npy, <case>_seg.npy, <case>.pkl) with the pickle replaced by JSON:
 *
 *   <folder>/<case>.npy       float32 (c, z, y, x), NPY 1.0, little-endian, C order   → np.load works
 *   <folder>/<case>_seg.npy   int8 (or int16 when a label exceeds 127) (1, z, y, x); only training cases
 *   <folder>/<case>.json      { format, version, case, channels, shape, seg_dtype, properties }
 *
 * We cannot write nnU-Net's blosc2 (.b2nd) files; NPY keeps reading cheap: the header is parsed from
 * the first bytes and the array is one read into an aligned buffer (no decoding), or a slab of slices.
 * Files are written to a temporary name and renamed, so a crashed worker leaves no half case behind.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readNpy, writeNpy } from '../formats/npy.js';
import type { Vec3 } from '../imaging/volume.js';
import type { PreprocessedCase, PreprocessedProperties } from '../nnunet/preprocessing/default-preprocessor.js';
import { writeJsonAtomic } from '../formats/atomic-file.js';

export const PREPROCESSED_FORMAT = 'nnseg-preprocessed';
export const PREPROCESSED_VERSION = 1;

const ClassLocationsSchema = z.record(z.string(), z.array(z.array(z.number().int()).length(4)));

export const PreprocessedPropertiesJsonSchema = z.looseObject({
  spacing: z.array(z.number()).length(3),
  sitk_stuff: z.object({ spacing: z.array(z.number()), origin: z.array(z.number()), direction: z.array(z.number()) }),
  shape_before_cropping: z.array(z.number().int()).length(3),
  bbox_used_for_cropping: z.array(z.tuple([z.number().int(), z.number().int()])).length(3),
  shape_after_cropping_and_before_resampling: z.array(z.number().int()).length(3),
  class_locations: ClassLocationsSchema.optional(),
});

export const PreprocessedCaseJsonSchema = z.object({
  format: z.literal(PREPROCESSED_FORMAT),
  version: z.literal(PREPROCESSED_VERSION),
  case: z.string().min(1),
  channels: z.number().int().positive(),
  shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  seg_dtype: z.enum(['int8', 'int16']).nullable(),
  properties: PreprocessedPropertiesJsonSchema,
});
export type PreprocessedCaseJson = z.infer<typeof PreprocessedCaseJsonSchema>;

export function casePaths(folder: string, caseId: string): { data: string; seg: string; properties: string } {
  return { data: join(folder, `${caseId}.npy`), seg: join(folder, `${caseId}_seg.npy`), properties: join(folder, `${caseId}.json`) };
}

function propertiesToJson(p: PreprocessedProperties): PreprocessedCaseJson['properties'] {
  const { class_locations, ...rest } = p;
  const out: PreprocessedCaseJson['properties'] = { ...rest };
  if (class_locations) {
    out.class_locations = {};
    for (const [k, flat] of Object.entries(class_locations)) {
      const rows: number[][] = [];
      for (let i = 0; i < flat.length; i += 4) rows.push([flat[i], flat[i + 1], flat[i + 2], flat[i + 3]]);
      out.class_locations[k] = rows;
    }
  }
  return out;
}

/** The case ids of a preprocessed folder (one `<case>.json` each), sorted. */
export function listPreprocessedCases(folder: string): string[] {
  if (!existsSync(folder)) throw new Error(`${folder}: no such preprocessed folder (run preprocessing for this configuration first)`);
  return readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Writes one preprocessed case; the seg is int8 when every label fits, else int16 (run_case_npy's rule). */
export function writePreprocessedCase(folder: string, caseId: string, pp: PreprocessedCase): void {
  const paths = casePaths(folder, caseId);
  writeNpy(paths.data, pp.data, [pp.channels, ...pp.shape]);
  let segDtype: 'int8' | 'int16' | null = null;
  if (pp.seg) {
    let mx = -Infinity;
    for (let i = 0; i < pp.seg.length; i++) if (pp.seg[i] > mx) mx = pp.seg[i];
    if (mx > 127) {
      segDtype = 'int16';
      writeNpy(paths.seg, pp.seg, [1, ...pp.shape]);
    } else {
      segDtype = 'int8';
      writeNpy(paths.seg, Int8Array.from(pp.seg), [1, ...pp.shape]);
    }
  }
  const json: PreprocessedCaseJson = {
    format: PREPROCESSED_FORMAT,
    version: PREPROCESSED_VERSION,
    case: caseId,
    channels: pp.channels,
    shape: [...pp.shape],
    seg_dtype: segDtype,
    properties: propertiesToJson(pp.properties),
  };
  writeJsonAtomic(paths.properties, json);
}

/** Reads and checks <case>.json (cheap; no arrays). */
export function readPreprocessedProperties(folder: string, caseId: string): PreprocessedCaseJson {
  const { properties } = casePaths(folder, caseId);
  if (!existsSync(properties)) throw new Error(`${properties}: preprocessed case "${caseId}" has no properties file`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(properties, 'utf8'));
  } catch (e) {
    throw new Error(`${properties}: not valid JSON (${(e as Error).message})`);
  }
  const r = PreprocessedCaseJsonSchema.safeParse(raw);
  if (!r.success)
    throw new Error(`${properties}: not an ${PREPROCESSED_FORMAT} v${PREPROCESSED_VERSION} case file:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
  return r.data;
}

/** Reads a whole preprocessed case (data float32, seg widened to Int16Array). */
export function readPreprocessedCase(
  folder: string,
  caseId: string,
): { data: Float32Array; channels: number; shape: Vec3; seg?: Int16Array; properties: PreprocessedCaseJson['properties'] } {
  const meta = readPreprocessedProperties(folder, caseId);
  const paths = casePaths(folder, caseId);
  const d = readNpy(paths.data);
  const expected = [meta.channels, ...meta.shape];
  if (!(d.data instanceof Float32Array) || d.shape.join() !== expected.join())
    throw new Error(`${paths.data}: expected float32 [${expected.join(', ')}], found ${d.dtype} [${d.shape.join(', ')}]`);
  let seg: Int16Array | undefined;
  if (meta.seg_dtype) {
    const s = readNpy(paths.seg);
    if (s.shape.join() !== [1, ...meta.shape].join()) throw new Error(`${paths.seg}: expected shape [1, ${meta.shape.join(', ')}], found [${s.shape.join(', ')}]`);
    seg = s.data instanceof Int16Array ? s.data : Int16Array.from(s.data);
  }
  return { data: d.data, channels: meta.channels, shape: meta.shape as Vec3, seg, properties: meta.properties };
}
