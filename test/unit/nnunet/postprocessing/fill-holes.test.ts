import { fillEnclosedBackground } from '../../../../server/src/nnunet/postprocessing/fill-holes.js';

/** 2-D cases as one-slice volumes, written as rows of digits. */
const grid = (rows: string[]) => Uint8Array.from(rows.join('').split('').map(Number));
const shapeOf = (rows: string[]) => [1, rows.length, rows[0].length] as const;

describe('fillEnclosedBackground', () => {
  it('fills background enclosed by one label with that label', () => {
    const rows = ['00000', '01110', '01010', '01110', '00000'];
    expect(Array.from(fillEnclosedBackground(grid(rows), shapeOf(rows)))).toEqual(Array.from(grid(['00000', '01110', '01110', '01110', '00000'])));
  });

  it('leaves background between two labels, background touching the border, and other labels alone', () => {
    const rows = ['011220', '010020', '011220', '000000', '033300', '032300', '033300'];
    const out = fillEnclosedBackground(grid(rows), shapeOf(rows));
    // the gap between labels 1 and 2 is enclosed by both: untouched; label 2 inside label 3 is no hole
    expect(Array.from(out)).toEqual(Array.from(grid(rows)));
  });

  it('face connectivity: a diagonal gap does not open a hole (scipy binary_fill_holes default structure)', () => {
    const rows = ['0100', '1010', '0100', '0000'];
    expect(Array.from(fillEnclosedBackground(grid(rows), shapeOf(rows)))).toEqual(Array.from(grid(['0100', '1110', '0100', '0000'])));
  });

  it('3-D: a hole open through a z face of the volume is not a hole; a closed cavity is', () => {
    // a 3×3×3 block of label 1 with a background centre: a cavity, filled; opening the centre of the z = 0
    // face connects it to the border: no longer a hole
    const shell = new Uint8Array(27).fill(1);
    shell[13] = 0;
    const filled = fillEnclosedBackground(shell, [3, 3, 3]);
    expect(filled[13]).toBe(1);
    const open = Uint8Array.from(shell);
    open[4] = 0; // (z 0, y 1, x 1): border voxel connected to the centre
    expect(fillEnclosedBackground(open, [3, 3, 3])[13]).toBe(0);
  });

  it('returns the input when there is nothing to fill and rejects a wrong shape', () => {
    const seg = new Uint16Array([0, 1, 0, 1]);
    expect(fillEnclosedBackground(seg, [1, 2, 2])).toBe(seg);
    expect(() => fillEnclosedBackground(seg, [1, 3, 2])).toThrow(/shape \[1, 3, 2\] needs 6/);
  });
});
