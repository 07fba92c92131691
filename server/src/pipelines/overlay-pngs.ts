/**
 * nnUNetv2_plot_overlay_pngs (generate_overlays_from_raw / _from_preprocessed): one PNG per training case,
 * the slice with the most foreground of one channel with the labels blended in, for a quick look at a dataset.
 * Spacing is disregarded, as in nnU-Net.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../formats/atomic-file.js';
import { encodePngRgb } from '../formats/png.js';
import { readImage } from '../io/image-file.js';
import { listPreprocessedCases, readPreprocessedCase } from '../io/nnunet-preprocessed.js';
import { listTrainingCases, loadDatasetJson } from '../io/nnunet-raw.js';
import { generateOverlay, selectSliceToPlot } from '../nnunet/utilities/overlay.js';

export interface OverlayOptions {
  outputFolder: string;
  /** `-channel_idx` (0 = _0000) */
  channel?: number;
  /** `-overlay_intensity` */
  intensity?: number;
}

function writeOverlay(path: string, image: ArrayLike<number>, seg: ArrayLike<number>, shape: readonly [number, number, number], intensity: number): void {
  const [, ny, nx] = shape;
  const z = selectSliceToPlot(seg, shape);
  const plane = ny * nx;
  const slice = (a: ArrayLike<number>) => Array.from({ length: plane }, (_, i) => a[z * plane + i]!);
  writeFileAtomic(path, encodePngRgb(generateOverlay(slice(image), slice(seg), ny, nx, intensity), nx, ny));
}

/** From nnUNet_raw: imagesTr channel `channel` and labelsTr. Returns the case ids drawn. */
export async function overlaysFromRaw(rawDatasetFolder: string, o: OverlayOptions): Promise<string[]> {
  const cases = listTrainingCases(rawDatasetFolder, loadDatasetJson(rawDatasetFolder));
  const channel = o.channel ?? 0;
  mkdirSync(o.outputFolder, { recursive: true });
  for (const [id, c] of cases) {
    if (channel >= c.images.length) throw new Error(`${id}: channel ${channel} asked for, the case has ${c.images.length}`);
    const [image, seg] = await Promise.all([readImage(c.images[channel]!), readImage(c.label)]);
    if (image.shape.join() !== seg.shape.join()) throw new Error(`${id}: image [${image.shape.join(', ')}] and segmentation [${seg.shape.join(', ')}] differ in shape`);
    writeOverlay(join(o.outputFolder, `${id}.png`), image.data, seg.data, image.shape, o.intensity ?? 0.6);
  }
  return [...cases.keys()];
}

/** From a preprocessed folder (`<data_identifier>/`): the case's channel and its seg (ignore marks −1 drawn as background). */
export function overlaysFromPreprocessed(folder: string, o: OverlayOptions): string[] {
  const ids = listPreprocessedCases(folder);
  const channel = o.channel ?? 0;
  mkdirSync(o.outputFolder, { recursive: true });
  for (const id of ids) {
    const c = readPreprocessedCase(folder, id);
    if (channel >= c.channels) throw new Error(`${id}: this dataset only has channels up to ${c.channels - 1}`);
    if (!c.seg) throw new Error(`${id}: a preprocessed case without segmentation (not a training case)`);
    const n = c.shape[0] * c.shape[1] * c.shape[2];
    const seg = c.seg.map((v) => (v < 0 ? 0 : v));
    writeOverlay(join(o.outputFolder, `${id}.png`), c.data.subarray(channel * n, (channel + 1) * n), seg, c.shape, o.intensity ?? 0.6);
  }
  return ids;
}
