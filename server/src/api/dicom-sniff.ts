/**
 * A cheap look at the start of a pushed instance, so garbage and non-image objects are refused as soon as
 * they arrive (the job layer checks the full series again).
 */
import { nonImageSopClassName } from '../dicom/sop-classes.js';

/** Why these first bytes cannot start an image instance, or undefined. Reads only the file meta group. */
export function rejectNonImageInstance(head: Uint8Array): string | undefined {
  if (head.length < 132 || head[128] !== 0x44 || head[129] !== 0x49 || head[130] !== 0x43 || head[131] !== 0x4d)
    return 'not a DICOM Part-10 file (no "DICM" prefix at byte 128)';
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let p = 132;
  // group 0002 is always explicit VR little endian (PS3.10 §7.1)
  while (p + 8 <= head.length) {
    const group = dv.getUint16(p, true);
    if (group !== 0x0002) break;
    const element = dv.getUint16(p + 2, true);
    const vr = String.fromCharCode(head[p + 4], head[p + 5]);
    let len: number;
    let valueAt: number;
    if (['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr)) {
      if (p + 12 > head.length) break;
      len = dv.getUint32(p + 8, true);
      valueAt = p + 12;
    } else {
      len = dv.getUint16(p + 6, true);
      valueAt = p + 8;
    }
    if (element === 0x0002) {
      if (valueAt + len > head.length) return undefined;
      const uid = new TextDecoder().decode(head.subarray(valueAt, valueAt + len)).replace(/[\0 ]+$/, '');
      const name = nonImageSopClassName(uid);
      return name ? `a ${name} object (SOP class ${uid}) carries no image to segment` : undefined;
    }
    p = valueAt + len;
  }
  return undefined;
}
