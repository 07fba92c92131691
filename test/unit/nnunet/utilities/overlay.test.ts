import { execFileSync } from 'node:child_process';
import { encodePngRgb } from '../../../../server/src/formats/png.js';
import { generateOverlay, selectSliceToPlot } from '../../../../server/src/nnunet/utilities/overlay.js';

describe('overlay pictures (overlay_plots.py)', () => {
  it('select_slice_to_plot2: the slice with the highest mean share of each label', () => {
    // 3 slices of 2×2; label 1: 1 voxel on z0, 3 on z1; label 2: 2 voxels on z2 → shares z0 .125, z1 .375, z2 .5
    const seg = [1, 0, 0, 0, 1, 1, 1, 0, 2, 2, 0, 0];
    expect(selectSliceToPlot(seg, [3, 2, 2])).toBe(2);
    expect(selectSliceToPlot([0, 0, 0, 0], [1, 2, 2])).toBe(0);
    // a tie goes to the first slice
    expect(selectSliceToPlot([1, 0, 1, 0], [2, 1, 2])).toBe(0);
  });

  it('generate_overlay: image to [0, 255], 0.6 × the colour added, rescaled, truncated', () => {
    // grey 0 and 255; label 1 is colour 1 of the cycle, 4363d8 = (67, 99, 216): 255 + 0.6·c = (295.2, 314.4, 384.6)
    expect(Array.from(generateOverlay([0, 10], [0, 1], 1, 2))).toEqual([0, 0, 0, 195, 208, 255]);
    // a flat image stays black where there is no label
    expect(Array.from(generateOverlay([5, 5], [0, 0], 1, 2))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('writes a PNG that zlib and the PNG chunk rules accept (checked by CPython)', () => {
    const rgb = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => i * 10);
    const png = encodePngRgb(rgb, 3, 2);
    const script = [
      'import sys, struct, zlib',
      'b = sys.stdin.buffer.read()',
      'assert b[:8] == b"\\x89PNG\\r\\n\\x1a\\n"',
      'i, idat, ihdr = 8, b"", None',
      'while i < len(b):',
      '    n, = struct.unpack(">I", b[i:i+4]); t = b[i+4:i+8]; d = b[i+8:i+8+n]',
      '    assert struct.unpack(">I", b[i+8+n:i+12+n])[0] == zlib.crc32(t + d), t',
      '    if t == b"IHDR": ihdr = struct.unpack(">IIBBBBB", d)',
      '    if t == b"IDAT": idat += d',
      '    i += 12 + n',
      'raw = zlib.decompress(idat)',
      'w, h = ihdr[0], ihdr[1]',
      'rows = [raw[y*(1+3*w)+1:(y+1)*(1+3*w)] for y in range(h) if raw[y*(1+3*w)] == 0]',
      'print(ihdr, list(b"".join(rows)))',
    ].join('\n');
    const out = execFileSync('python3', ['-c', script], { input: Buffer.from(png) }).toString().trim();
    expect(out).toBe(`(3, 2, 8, 2, 0, 0, 0) [${Array.from(rgb).join(', ')}]`);
  });
});
