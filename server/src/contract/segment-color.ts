/**
 * Segment colours as DICOM SEG stores them (RecommendedDisplayCIELabValue, PS3.3 C.10.7.1.1): the server
 * writes them, the viewer shows them. Pure arithmetic, no imports.
 */
/** sRGB (0…255) → CIELab (D50 white, Bradford-adapted from sRGB's D65). */
export function srgbToLab(rgb: readonly [number, number, number]): [number, number, number] {
  const lin = rgb.map((c) => {
    const v = Math.min(255, Math.max(0, c)) / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  // sRGB → XYZ(D50) with Bradford adaptation (Lindbloom's matrix)
  const X = 0.4360747 * lin[0] + 0.3850649 * lin[1] + 0.1430804 * lin[2];
  const Y = 0.2225045 * lin[0] + 0.7168786 * lin[1] + 0.0606169 * lin[2];
  const Z = 0.0139322 * lin[0] + 0.0971045 * lin[1] + 0.7141733 * lin[2];
  const white = [0.96422, 1.0, 0.82521];
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  const fx = f(X / white[0]);
  const fy = f(Y / white[1]);
  const fz = f(Z / white[2]);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** CIELab → DICOM RecommendedDisplayCIELabValue: L 0…100 and a, b −128…127 scaled to 0…65535. */
export function labToDicom(lab: readonly [number, number, number]): [number, number, number] {
  const clamp = (x: number) => Math.min(65535, Math.max(0, Math.round(x)));
  return [clamp((lab[0] * 65535) / 100), clamp(((lab[1] + 128) * 65535) / 255), clamp(((lab[2] + 128) * 65535) / 255)];
}

export const srgbToDicomLab = (rgb: readonly [number, number, number]) => labToDicom(srgbToLab(rgb));

/** DICOM scaled CIELab → sRGB 0…255 (for readers that show SEG colours). */
export function dicomLabToSrgb(v: readonly number[]): [number, number, number] {
  const L = (v[0] * 100) / 65535;
  const a = (v[1] * 255) / 65535 - 128;
  const b = (v[2] * 255) / 65535 - 128;
  const fy = (L + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - b / 200;
  const inv = (t: number) => (t ** 3 > 216 / 24389 ? t ** 3 : (116 * t - 16) / (24389 / 27));
  const X = inv(fx) * 0.96422;
  const Y = inv(fy);
  const Z = inv(fz) * 0.82521;
  const lin = [
    3.1338561 * X - 1.6168667 * Y - 0.4906146 * Z,
    -0.9787684 * X + 1.9161415 * Y + 0.033454 * Z,
    0.0719453 * X - 0.2289914 * Y + 1.4052427 * Z,
  ];
  return lin.map((c) => {
    const s = c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
    return Math.round(Math.min(1, Math.max(0, s)) * 255);
  }) as [number, number, number];
}
