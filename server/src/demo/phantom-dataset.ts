/**
 * An nnU-Net raw dataset of phantoms (phantom.ts): dataset.json (channel "CT", labels), imagesTr/
 * <case>_0000.nii.gz and labelsTr/<case>.nii.gz. Case i uses seed deriveSeed(seed, i), so a dataset
 * is reproducible and extending numCases keeps the earlier cases.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeImage } from '../io/image-file.js';
import type { Vec3 } from '../imaging/volume.js';
import { deriveSeed } from '../training/data/rng.js';
import { generatePhantom } from './phantom.js';

export interface PhantomDatasetOptions {
  numCases: number;
  /** [nz, ny, nx]; nz = 1 gives a 2D dataset */
  shape: Vec3;
  spacing: Vec3;
  seed: number;
  /** dataset.json name; default "Phantom" */
  name?: string;
  lesion?: boolean;
  /** case id prefix; default "phantom" */
  prefix?: string;
  /** called after each case with the number written so far */
  onCase?: (done: number) => void;
}

export interface PhantomDatasetResult {
  folder: string;
  caseIds: string[];
  labels: Record<string, number>;
}

export async function writePhantomDataset(folder: string, o: PhantomDatasetOptions): Promise<PhantomDatasetResult> {
  if (!Number.isInteger(o.numCases) || o.numCases < 1) throw new Error(`writePhantomDataset: numCases must be a positive integer, got ${o.numCases}`);
  mkdirSync(join(folder, 'imagesTr'), { recursive: true });
  mkdirSync(join(folder, 'labelsTr'), { recursive: true });
  const prefix = o.prefix ?? 'phantom';
  const caseIds: string[] = [];
  let labels: Record<string, number> = {};
  for (let i = 0; i < o.numCases; i++) {
    const id = `${prefix}_${String(i).padStart(3, '0')}`;
    const p = generatePhantom({ shape: o.shape, spacing: o.spacing, seed: deriveSeed(o.seed, i), lesion: o.lesion });
    labels = p.labels;
    await writeImage(p.image, join(folder, 'imagesTr', `${id}_0000.nii.gz`));
    await writeImage(p.label, join(folder, 'labelsTr', `${id}.nii.gz`));
    caseIds.push(id);
    o.onCase?.(i + 1);
  }
  const datasetJson = {
    name: o.name ?? 'Phantom',
    description: `nnseg synthetic CT phantoms (seed ${o.seed}, shape ${o.shape.join('x')}, spacing ${o.spacing.join('x')} mm); not patient data`,
    channel_names: { '0': 'CT' },
    labels,
    numTraining: o.numCases,
    file_ending: '.nii.gz',
    licence: 'CC0',
  };
  writeFileSync(join(folder, 'dataset.json'), JSON.stringify(datasetJson, null, 4));
  return { folder, caseIds, labels };
}
