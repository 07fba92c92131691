/**
 * `npm run parity`: the real nnU-Net v2.8.1 and nnseg side by side on the committed real-oracle fixtures
 * (test/fixtures/nnunet-oracle), same CPU, same run, alternating. Developer-run where the oracle is set up
 * (../shared/nnunet-oracle: setup.sh); CI never runs it.
 *
 * Rows: the small 3d_fullres net with and without mirroring, and a default-width (16.5 M parameter) net with
 * mirroring (made once with the oracle's make_default_width_checkpoint.py, ~66 MB, outside the repository).
 * Columns: per-label Dice of nnseg's labels against nnU-Net's (worst case), max |Δ| of the probabilities,
 * wall time of each command (start-up included: that is what a user waits for) and nnseg ÷ nnU-Net.
 * Usage: npm run parity [-- --rounds N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImage } from '../server/src/io/image-file.js';
import { readNpz } from '../server/src/formats/npz.js';

const ROOT = process.cwd();
const FIX = join(ROOT, 'test/fixtures/nnunet-oracle');
const NNREF = process.env.NNREF ?? '/opt/nnunet-ref';
const ORACLE = process.env.ORACLE ?? join(ROOT, '../shared/nnunet-oracle');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 1) || 1;

if (!existsSync(join(NNREF, 'bin/nnUNetv2_predict_from_modelfolder')) || !existsSync(join(ORACLE, 'env.sh'))) {
  console.error(`the nnU-Net oracle is not set up (${NNREF}/bin, ${ORACLE}/env.sh): run ${ORACLE}/setup.sh first (see its README)`);
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'nnseg-parity-'));
const env = { ...process.env, NNREF, nnUNet_raw: join(work, 'raw'), nnUNet_preprocessed: join(work, 'preprocessed'), nnUNet_results: join(work, 'results') };
const images = join(FIX, 'images');

/** The default-width 3d_fullres model, random init, through nnU-Net's own trainer (made once, cached). */
function defaultWidthModel(): string {
  const cache = join(process.env.HOME ?? tmpdir(), '.cache/nnseg-parity');
  const folder = join(cache, 'results/Dataset901_SpheresCT/nnUNetTrainer__nnUNetPlans__3d_fullres');
  if (existsSync(join(folder, 'fold_0/checkpoint_final.pth'))) return folder;
  const pre = join(cache, 'preprocessed/Dataset901_SpheresCT');
  mkdirSync(pre, { recursive: true });
  cpSync(join(FIX, 'preprocessed/Dataset901_SpheresCT'), pre, { recursive: true });
  console.error('making the default-width checkpoint with nnU-Net (once)…');
  execFileSync('bash', ['-c', `source "${ORACLE}/env.sh" && /usr/bin/python3 "${ORACLE}/make_default_width_checkpoint.py"`], {
    env: { ...env, nnUNet_preprocessed: join(cache, 'preprocessed'), nnUNet_results: join(cache, 'results'), nnUNet_raw: join(cache, 'raw') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return folder;
}

function timed(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr.toString().slice(-3000)}`);
  return (performance.now() - t0) / 1000;
}

function dice(a: ArrayLike<number>, b: ArrayLike<number>, label: number): number {
  let i2 = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] === label;
    const y = b[i] === label;
    n += Number(x) + Number(y);
    if (x && y) i2 += 2;
  }
  return n === 0 ? 1 : i2 / n;
}

interface Row {
  setting: string;
  minDice: number;
  maxProbDiff: number;
  nnunet: number[];
  nnseg: number[];
}

async function compare(a: string, b: string): Promise<{ minDice: number; maxProbDiff: number }> {
  let minDice = 1;
  let maxProbDiff = 0;
  for (const f of readdirSync(a).filter((x) => x.endsWith('.nii.gz'))) {
    const [x, y] = [await readImage(join(a, f)), await readImage(join(b, f))];
    for (const label of [1, 2]) minDice = Math.min(minDice, dice(x.data, y.data, label));
    const npz = f.replace('.nii.gz', '.npz');
    const [p, q] = [readNpz(join(a, npz)).get('probabilities')!.data, readNpz(join(b, npz)).get('probabilities')!.data];
    for (let i = 0; i < p.length; i++) maxProbDiff = Math.max(maxProbDiff, Math.abs(p[i]! - q[i]!));
  }
  return { minDice, maxProbDiff };
}

const settings: { setting: string; model: string; tta: boolean }[] = [
  { setting: 'small net (tiny 3d_fullres), mirroring', model: join(FIX, 'models/plain3d/Dataset901_SpheresCT/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres'), tta: true },
  { setting: 'small net, no mirroring', model: join(FIX, 'models/plain3d/Dataset901_SpheresCT/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres'), tta: false },
  { setting: 'default-width net (16.5 M params), mirroring', model: defaultWidthModel(), tta: true },
];

const rows: Row[] = [];
try {
  for (const s of settings) {
    const row: Row = { setting: s.setting, minDice: 1, maxProbDiff: 0, nnunet: [], nnseg: [] };
    for (let r = 0; r < rounds; r++) {
      const [outA, outB] = [join(work, `nnunet-${rows.length}-${r}`), join(work, `nnseg-${rows.length}-${r}`)];
      const common = ['-i', images, '-f', '0', '--save_probabilities'];
      row.nnunet.push(
        timed(join(NNREF, 'bin/nnUNetv2_predict_from_modelfolder'), ['-m', s.model, '-o', outA, ...common, '-device', 'cpu', '-npp', '1', '-nps', '1', ...(s.tta ? [] : ['--disable_tta'])]),
      );
      row.nnseg.push(
        timed(process.execPath, [
          join(ROOT, 'server/dist/cli/main.js'), 'predict', '-m', s.model, '-o', outB, '-i', images, '-f', '0', '--save-probabilities', '--device', 'cpu', ...(s.tta ? [] : ['--disable-tta']),
        ]),
      );
      const c = await compare(outA, outB);
      row.minDice = Math.min(row.minDice, c.minDice);
      row.maxProbDiff = Math.max(row.maxProbDiff, c.maxProbDiff);
      rmSync(outA, { recursive: true });
      rmSync(outB, { recursive: true });
    }
    rows.push(row);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const cases = readdirSync(images).filter((f) => f.endsWith('_0000.nii.gz')).length;
console.log(`\nnnseg vs real nnU-Net v2.8.1, ${cases} cases (test/fixtures/nnunet-oracle/images), fold 0, ${rounds} round(s), wall time incl. start-up\n`);
console.log('| setting | min per-label Dice | max |Δ prob| | nnU-Net s | nnseg s | nnseg ÷ nnU-Net |');
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.setting} | ${r.minDice.toFixed(4)} | ${r.maxProbDiff.toExponential(1)} | ${mean(r.nnunet).toFixed(1)} | ${mean(r.nnseg).toFixed(1)} | ${(mean(r.nnseg) / mean(r.nnunet)).toFixed(2)} |`,
  );
