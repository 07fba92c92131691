/**
 * Stored corrections (server/src/api/corrections.ts) → an nnU-Net v2 raw dataset, ready for
 * `nnseg plan-and-preprocess` / `nnseg train`: each correction's series is retrieved from the PACS
 * (DICOMweb WADO-RS), assembled on the server's series grid, and written as `imagesTr/<case>_0000` with
 * the correction as `labelsTr/<case>` on the same geometry (nnU-Net's verify_dataset_integrity compares
 * origin/spacing/direction of image and label). `corrections-manifest.json` records which correction and
 * series each case came from (no patient data).
 *
 * Pure planning (which corrections, labels, case names) is separate from the I/O in `buildCorrectionsDataset`.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { StoredCorrection } from '../contract/corrections.js';
import { CorrectionStore, correctionsRoot } from '../corrections/correction-store.js';
import { DicomWebClient } from '../dicom/dicomweb/client.js';
import { readSeriesFolder } from '../dicom/series-folder.js';
import type { Volume } from '../imaging/volume.js';
import { writeImage } from '../io/image-file.js';
import { datasetIdFromName } from '../io/nnunet-paths.js';

export const CORRECTIONS_MANIFEST = 'corrections-manifest.json';
export const CORRECTIONS_MANIFEST_VERSION = 1;

export const CorrectionsManifestSchema = z.strictObject({
  version: z.literal(CORRECTIONS_MANIFEST_VERSION),
  createdAt: z.iso.datetime({ offset: true }),
  cases: z.array(
    z.strictObject({
      case: z.string(),
      correctionId: z.uuid(),
      model: z.string(),
      studyInstanceUID: z.string(),
      seriesInstanceUID: z.string(),
      receivedAt: z.string(),
      subject: z.string(),
    }),
  ),
  /** corrections left out because a newer one exists for the same series (and model) */
  superseded: z.array(z.strictObject({ correctionId: z.uuid(), by: z.uuid() })),
});
export type CorrectionsManifest = z.infer<typeof CorrectionsManifestSchema>;

export interface PlannedCase {
  case: string;
  correction: StoredCorrection;
}

export interface CorrectionsPlan {
  cases: PlannedCase[];
  /** dataset.json `labels` (name → value), the same in every correction */
  labels: Record<string, number>;
  superseded: { correctionId: string; by: string }[];
}

const sameLabels = (a: Record<string, number>, b: Record<string, number>): boolean => {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
};

/**
 * Which corrections become cases: optionally one model's only; per series (and model) the newest wins.
 * Cases are named `<prefix>_<NNN>` in the order the corrections were received. Throws when none are left
 * or when their label sets differ (naming the corrections on each side).
 */
export function planCorrectionsDataset(corrections: readonly StoredCorrection[], o: { model?: string; casePrefix?: string } = {}): CorrectionsPlan {
  const chosen = o.model === undefined ? [...corrections] : corrections.filter((c) => c.header.model === o.model);
  if (chosen.length === 0)
    throw new Error(o.model === undefined ? 'no stored corrections' : `no stored corrections for model "${o.model}" (models with corrections: ${[...new Set(corrections.map((c) => c.header.model))].join(', ') || 'none'})`);
  chosen.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
  const latest = new Map<string, StoredCorrection>();
  const superseded: { correctionId: string; by: string }[] = [];
  for (const c of chosen) {
    const key = `${c.header.model}\u0000${c.header.seriesInstanceUID}`;
    const prev = latest.get(key);
    if (prev) superseded.push({ correctionId: prev.id, by: c.id });
    latest.set(key, c);
  }
  const kept = chosen.filter((c) => latest.get(`${c.header.model}\u0000${c.header.seriesInstanceUID}`) === c);
  const labels = kept[0].header.labels;
  const differing = kept.filter((c) => !sameLabels(c.header.labels, labels));
  if (differing.length)
    throw new Error(
      `the corrections do not agree on their labels: ${kept[0].id} (model ${kept[0].header.model}) has ${JSON.stringify(labels)} but ` +
        differing
          .slice(0, 5)
          .map((c) => `${c.id} (model ${c.header.model}) has ${JSON.stringify(c.header.labels)}`)
          .join(', ') +
        (differing.length > 5 ? `, and ${differing.length - 5} more` : '') +
        '; build one dataset per label set (--model)',
    );
  const prefix = o.casePrefix ?? 'correction';
  const width = Math.max(3, String(kept.length).length);
  // nnU-Net wants labels as name → value with background 0 first; order by value
  const ordered: Record<string, number> = {};
  for (const [name, v] of Object.entries(labels).sort((a, b) => a[1] - b[1])) ordered[name] = v;
  return { cases: kept.map((c, i) => ({ case: `${prefix}_${String(i + 1).padStart(width, '0')}`, correction: c })), labels: ordered, superseded };
}

export interface BuildCorrectionsDatasetOptions {
  /** the server's work dir (corrections under <workDir>/corrections) */
  workDir: string;
  /** DICOMweb service root of the PACS holding the series */
  pacsUrl: string;
  pacsHeaders?: Record<string, string>;
  /** nnUNet_raw-like folder; the dataset is written to <rawRoot>/<name> */
  rawRoot: string;
  /** DatasetNNN_Name */
  name: string;
  /** only this model's corrections */
  model?: string;
  /** replace an existing dataset folder of that name */
  overwrite?: boolean;
  fileEnding?: '.nii.gz' | '.nrrd' | '.mha';
  onCase?: (done: number, total: number, caseId: string) => void;
  onWarning?: (message: string) => void;
}

export interface BuiltCorrectionsDataset {
  folder: string;
  datasetJson: Record<string, unknown>;
  manifest: CorrectionsManifest;
}

/** Retrieves, checks and writes every planned case, then dataset.json and the manifest. */
export async function buildCorrectionsDataset(o: BuildCorrectionsDatasetOptions): Promise<BuiltCorrectionsDataset> {
  if (datasetIdFromName(o.name) === undefined || !/^Dataset\d{3,}_[A-Za-z0-9_-]+$/.test(o.name))
    throw new Error(`--name must be DatasetNNN_Name (three or more digits, then letters/digits/_/-), got "${o.name}"`);
  const store = new CorrectionStore(correctionsRoot(o.workDir));
  const { corrections, broken } = store.list();
  for (const b of broken) o.onWarning?.(`skipping unreadable correction ${b.id}: ${b.reason}`);
  const plan = planCorrectionsDataset(corrections, { model: o.model });
  for (const s of plan.superseded) o.onWarning?.(`correction ${s.correctionId} is superseded by the newer ${s.by} for the same series; left out`);

  const folder = resolve(o.rawRoot, o.name);
  if (existsSync(folder) && readdirSync(folder).length > 0) {
    if (!o.overwrite) throw new Error(`${folder} exists and is not empty (pass --overwrite to replace it)`);
    rmSync(folder, { recursive: true, force: true });
  }
  const ending = o.fileEnding ?? '.nii.gz';
  mkdirSync(join(folder, 'imagesTr'), { recursive: true });
  mkdirSync(join(folder, 'labelsTr'), { recursive: true });
  const client = new DicomWebClient({ baseUrl: o.pacsUrl, ...(o.pacsHeaders ? { headers: o.pacsHeaders } : {}) });
  const scratch = mkdtempSync(join(folder, '.retrieve-'));
  let modality: { value: string; from: string } | undefined;
  try {
    for (const [n, { case: caseId, correction: c }] of plan.cases.entries()) {
      const h = c.header;
      const where = `correction ${c.id} (series ${h.seriesInstanceUID})`;
      const seriesFolder = join(scratch, caseId);
      try {
        await client.retrieveSeriesToFolder(h.studyInstanceUID, h.seriesInstanceUID, seriesFolder);
      } catch (e) {
        throw new Error(`${where}: could not retrieve the series from the PACS: ${(e as Error).message}`);
      }
      let series;
      try {
        series = await readSeriesFolder(seriesFolder);
      } catch (e) {
        throw new Error(`${where}: the retrieved series cannot be assembled: ${(e as Error).message}`);
      }
      for (const w of series.warnings) o.onWarning?.(`${where}: ${w}`);
      const grid = series.volume.shape;
      if (grid.some((v, i) => v !== h.shape[i]))
        throw new Error(`${where}: the correction's shape ${h.shape.join('×')} differs from the series grid ${grid.join('×')} (z×y×x)`);
      const labels = store.readLabels(c.id);
      const label: Volume<Uint8Array> = { data: labels, shape: [...grid], spacing: [...series.volume.spacing], origin: [...series.volume.origin], direction: [...series.volume.direction] };
      await writeImage(series.volume, join(folder, 'imagesTr', `${caseId}_0000${ending}`));
      await writeImage(label, join(folder, 'labelsTr', `${caseId}${ending}`));
      // one channel, one modality: channel_names drives the normalization (CT vs z-score)
      const m = typeof series.header.Modality === 'string' && series.header.Modality !== '' ? series.header.Modality : 'unknown';
      if (modality === undefined) modality = { value: m, from: c.id };
      else if (modality.value !== m)
        throw new Error(`${where}: modality ${m} differs from ${modality.value} of correction ${modality.from}; one channel needs one modality: build one dataset per model (--model)`);
      rmSync(seriesFolder, { recursive: true, force: true });
      o.onCase?.(n + 1, plan.cases.length, caseId);
    }
  } catch (e) {
    // a half-built dataset must not look trainable
    rmSync(folder, { recursive: true, force: true });
    throw e;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const datasetJson = {
    channel_names: { '0': modality!.value },
    labels: plan.labels,
    numTraining: plan.cases.length,
    file_ending: ending,
    name: o.name,
    description: `corrections sent by annotators${o.model ? ` for model ${o.model}` : ''}, built by nnseg corrections dataset`,
  };
  writeFileSync(join(folder, 'dataset.json'), `${JSON.stringify(datasetJson, null, 4)}\n`);
  const manifest: CorrectionsManifest = {
    version: CORRECTIONS_MANIFEST_VERSION,
    createdAt: new Date().toISOString(),
    cases: plan.cases.map(({ case: caseId, correction: c }) => ({
      case: caseId,
      correctionId: c.id,
      model: c.header.model,
      studyInstanceUID: c.header.studyInstanceUID,
      seriesInstanceUID: c.header.seriesInstanceUID,
      receivedAt: c.receivedAt,
      subject: c.subject,
    })),
    superseded: plan.superseded,
  };
  writeFileSync(join(folder, CORRECTIONS_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return { folder, datasetJson, manifest };
}
