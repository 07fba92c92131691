import { niftiChannel, niftiLayout } from '../../../server/src/io/nifti-split.js';
import { niftiBytes } from '../../helpers/msd-task.js';

const g = { spacing: [1, 1, 2] as [number, number, number], offset: [0, 0, 0] as [number, number, number] };

describe('4D NIfTI-1 splitting (convert_MSD_dataset.split_4d_nifti)', () => {
  it('channel c is the c-th block of voxels under the same header, as a 3D file', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 2 }, (_, i) => i);
    const bytes = niftiBytes([2, 3, 4, 2], 16, data, g);
    const layout = niftiLayout(bytes, 'x.nii');
    expect(layout).toEqual({ dims: [2, 3, 4, 2], bytesPerVoxel: 4, voxOffset: 352 });
    const ch1 = niftiChannel(bytes, layout, 1);
    expect(niftiLayout(ch1, 'ch1.nii')).toEqual({ dims: [2, 3, 4, 1], bytesPerVoxel: 4, voxOffset: 352 });
    expect(Array.from(new Float32Array(ch1.buffer.slice(352)))).toEqual(Array.from(data.subarray(24, 48)));
    // geometry fields (pixdim, qform, sform) are the source's
    expect(Buffer.from(ch1.subarray(76, 340)).equals(Buffer.from(bytes.subarray(76, 340)))).toBe(true);
  });

  it('refuses what it cannot split safely, naming the problem', () => {
    const bytes = niftiBytes([2, 2, 2, 2], 2, new Uint8Array(16), g);
    expect(() => niftiLayout(bytes.subarray(0, 360), 'cut.nii')).toThrow('cut.nii: the header declares 368 bytes, the file has 360 (truncated)');
    const bigEndian = bytes.slice();
    new DataView(bigEndian.buffer).setInt32(0, 348, false);
    expect(() => niftiLayout(bigEndian, 'be.nii')).toThrow('not a little-endian NIfTI-1 file');
    const fiveD = niftiBytes([2, 2, 2, 2, 2], 2, new Uint8Array(32), g);
    expect(() => niftiLayout(fiveD, '5d.nii')).toThrow('5 dimensions');
    const huge = bytes.slice();
    new DataView(huge.buffer).setInt16(42, -1, true);
    expect(() => niftiLayout(huge, 'neg.nii')).toThrow('out of range');
    expect(() => niftiLayout(new Uint8Array(100), 'short.nii')).toThrow('too short for a NIfTI-1 header');
  });
});
