/**
 * nnU-Net's overlay pictures (nnunetv2/utilities/overlay_plots.py): the slice to show and the image with the
 * segmentation blended in. Pure; `pipelines/overlay-pngs.ts` reads the cases and writes the PNGs.
 */

/** overlay_plots.color_cycle: label k (in sorted order of the labels present) gets colour k; background black. */
export const COLOR_CYCLE = ['000000', '4363d8', 'f58231', '3cb44b', 'e6194B', '911eb4', 'ffe119', 'bfef45', '42d4f4', 'f032e6', '000075', '9A6324', '808000', '800000', '469990'];

const rgbOf = (hex: string): [number, number, number] => [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];

/**
 * select_slice_to_plot2: for each label > 0, the share of its voxels on each slice; the slice with the
 * highest mean share (the first on a tie; 0 when there is no foreground). `seg` is (z, y, x), x fastest.
 */
export function selectSliceToPlot(seg: ArrayLike<number>, shape: readonly [number, number, number]): number {
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const perSlice = new Map<number, Float64Array>();
  for (let z = 0; z < nz; z++)
    for (let i = z * plane; i < (z + 1) * plane; i++) {
      const l = seg[i]!;
      if (l <= 0) continue;
      let counts = perSlice.get(l);
      if (!counts) perSlice.set(l, (counts = new Float64Array(nz)));
      counts[z]!++;
    }
  if (perSlice.size === 0) return 0;
  const mean = new Float64Array(nz);
  for (const counts of perSlice.values()) {
    const total = counts.reduce((a, b) => a + b, 0);
    for (let z = 0; z < nz; z++) mean[z] += counts[z]! / total / perSlice.size;
  }
  let best = 0;
  for (let z = 1; z < nz; z++) if (mean[z]! > mean[best]!) best = z;
  return best;
}

/**
 * generate_overlay on one slice: the image scaled to [0, 255] as RGB, `intensity` × the label's colour added
 * where the segmentation has it, scaled to [0, 255] again and truncated to uint8 (numpy astype). Returns
 * height × width × 3 bytes.
 */
export function generateOverlay(image: ArrayLike<number>, seg: ArrayLike<number>, height: number, width: number, intensity = 0.6): Uint8Array {
  const n = height * width;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    min = Math.min(min, image[i]!);
    max = Math.max(max, image[i]!);
  }
  const range = max - min;
  const labels = [...new Set(Array.from({ length: n }, (_, i) => seg[i]!))].sort((a, b) => a - b);
  const colour = new Map(labels.map((l, k) => [l, rgbOf(COLOR_CYCLE[k % COLOR_CYCLE.length]!)]));
  const rgb = new Float64Array(n * 3);
  let top = 0;
  for (let i = 0; i < n; i++) {
    const grey = range > 0 ? ((image[i]! - min) / range) * 255 : 0;
    const c = colour.get(seg[i]!)!;
    for (let k = 0; k < 3; k++) top = Math.max(top, (rgb[i * 3 + k] = grey + intensity * c[k]!));
  }
  const out = new Uint8Array(n * 3);
  if (top > 0) for (let i = 0; i < out.length; i++) out[i] = Math.trunc((rgb[i]! / top) * 255);
  return out;
}
