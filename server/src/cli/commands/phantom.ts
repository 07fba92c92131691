import type { Command } from 'commander';
import type { Vec3 } from '../../imaging/volume.js';
import { writePhantomSeries } from '../../demo/demo-study.js';
import { writePhantomDataset } from '../../demo/phantom-dataset.js';
import { ProgressBar } from '../progress.js';

function triple(what: string, integer: boolean): (v: string) => Vec3 {
  return (v: string) => {
    const parts = v.split(/[,x]/).map(Number);
    if (parts.length !== 3 || parts.some((p) => !(p > 0) || (integer && !Number.isInteger(p))))
      throw new Error(`--${what} must be three positive ${integer ? 'integers' : 'numbers'} z,y,x (got "${v}")`);
    return parts as Vec3;
  };
}

function int(what: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${what} must be a non-negative integer (got "${v}")`);
    return n;
  };
}

export function register(program: Command): void {
  const phantom = program.command('phantom').description('generate synthetic CT phantoms (liver, kidneys): an nnU-Net raw dataset or a DICOM demo series');
  phantom
    .command('dataset')
    .description('write an nnU-Net raw dataset of phantoms (dataset.json, imagesTr, labelsTr); --shape 1,y,x gives a 2D dataset')
    .argument('<folder>', 'dataset folder, e.g. $nnUNet_raw/Dataset900_Phantom')
    .option('--cases <n>', 'number of training cases', int('cases'), 20)
    .option('--shape <z,y,x>', 'voxels per case', triple('shape', true), [48, 96, 96] as Vec3)
    .option('--spacing <z,y,x>', 'spacing in mm', triple('spacing', false), [3, 3, 3] as Vec3)
    .option('--seed <n>', 'seed (case i uses a seed derived from it)', int('seed'), 0)
    .option('--lesion', 'add a liver lesion label (3)', false)
    .option('--name <name>', 'dataset.json name', 'Phantom')
    .action(async (folder: string, o: { cases: number; shape: Vec3; spacing: Vec3; seed: number; lesion: boolean; name: string }) => {
      const bar = new ProgressBar('phantoms', o.cases);
      const r = await writePhantomDataset(folder, { numCases: o.cases, shape: o.shape, spacing: o.spacing, seed: o.seed, lesion: o.lesion, name: o.name, onCase: (n) => bar.update(n) });
      process.stdout.write(`${folder}: ${r.caseIds.length} cases, labels ${JSON.stringify(r.labels)}\n`);
    });
  phantom
    .command('series')
    .description('write a phantom as a DICOM CT series (one file per slice, patient "NNSEG^PHANTOM")')
    .argument('<folder>', 'output folder for the .dcm files')
    .option('--seed <n>', 'seed (same seed, same study and UIDs)', int('seed'), 0)
    .option('--shape <z,y,x>', 'voxels', triple('shape', true), [48, 128, 128] as Vec3)
    .option('--spacing <z,y,x>', 'spacing in mm', triple('spacing', false), [3, 2.5, 2.5] as Vec3)
    .option('--lesion', 'add a liver lesion', false)
    .action((folder: string, o: { seed: number; shape: Vec3; spacing: Vec3; lesion: boolean }) => {
      const r = writePhantomSeries(folder, o.seed, { shape: o.shape, spacing: o.spacing, lesion: o.lesion });
      process.stdout.write(`${folder}: ${r.files.length} slices, StudyInstanceUID ${r.studyInstanceUID}, SeriesInstanceUID ${r.seriesInstanceUID}\n`);
    });
}
