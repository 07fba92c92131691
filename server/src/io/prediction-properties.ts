/**
 * `<case>.pkl` beside a saved probability map, as nnU-Net's `export_prediction_from_logits` writes it
 * (`save_pickle(properties_dict, ...)`): the image properties of the case, so `nnUNetv2_ensemble` (and our
 * `ensemble`) can write the averaged segmentation in the image's geometry. Pickled as plain data (dicts,
 * lists, tuples, floats, ints), protocol 2; read back with the data-only unpickler.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { pyToJson, unpickle } from '../formats/pickle.js';
import { Pickler, PyFloat, PyTuple, type WriteValue } from '../formats/pickler.js';
import type { PreprocessedProperties } from '../nnunet/preprocessing/default-preprocessor.js';

const floats = (a: readonly number[]) => a.map((v) => new PyFloat(v));
const ints = (a: readonly number[]) => a.map((v) => Math.round(v));

export function writePredictionProperties(path: string, p: PreprocessedProperties): void {
  const dict: Record<string, WriteValue> = {
    sitk_stuff: {
      spacing: new PyTuple(floats(p.sitk_stuff.spacing)),
      origin: new PyTuple(floats(p.sitk_stuff.origin)),
      direction: new PyTuple(floats(p.sitk_stuff.direction)),
    },
    spacing: floats(p.spacing),
    shape_before_cropping: new PyTuple(ints(p.shape_before_cropping)),
    bbox_used_for_cropping: p.bbox_used_for_cropping.map((b) => ints(b)),
    shape_after_cropping_and_before_resampling: new PyTuple(ints(p.shape_after_cropping_and_before_resampling)),
  };
  writeFileSync(path, new Pickler().dump(dict));
}

const PropertiesSchema = z.looseObject({
  spacing: z.array(z.number()).min(2).max(3),
  sitk_stuff: z
    .looseObject({
      spacing: z.array(z.number()),
      origin: z.array(z.number()),
      direction: z.array(z.number()),
    })
    .optional(),
});

/** Geometry of the image a prediction belongs to: spacing [z,y,x]; origin/direction in ITK order when known. */
export interface PredictionGeometry {
  spacing: number[];
  origin?: number[];
  direction?: number[];
}

export function readPredictionGeometry(path: string): PredictionGeometry {
  let value: unknown;
  try {
    value = pyToJson(unpickle(new Uint8Array(readFileSync(path))));
  } catch (e) {
    throw new Error(`${path}: not a readable properties pickle (${(e as Error).message})`);
  }
  const r = PropertiesSchema.safeParse(value);
  if (!r.success) throw new Error(`${path}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return { spacing: r.data.spacing, origin: r.data.sitk_stuff?.origin, direction: r.data.sitk_stuff?.direction };
}
