/**
 * Importing model folders as a user gets them: renamed, edited, damaged or crafted. Each starts from a real
 * nnU-Net v2.8.1 model (test/fixtures/nnunet-oracle) and changes one thing; each refusal names its own reason,
 * and a refused import leaves nothing in the store.
 */
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { ModelStore } from '../../server/src/models/model-store.js';
import { makeTempDir } from '../helpers/tmp.js';

const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle');
const PLAIN = join(FIX, 'models/plain3d/Dataset901_SpheresCT/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres');
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A torch.save-shaped zip around a hand-written pickle. */
function torchZip(pickle: Uint8Array): Uint8Array {
  return zipSync({ 'archive/data.pkl': [pickle, { level: 0 }], 'archive/byteorder': [latin1('little'), { level: 0 }] });
}

/** {'network_weights': OrderedDict(), 'logging': L} where L nests 2^depth references to one empty list. */
function laughsPickle(depth: number): Uint8Array {
  let p = '\x80\x02}(X\x0f\x00\x00\x00network_weightsccollections\nOrderedDict\n)RX\x07\x00\x00\x00logging]q\x00';
  // POP the previous list (the memo keeps it), then a list of two references to it
  for (let i = 1; i <= depth; i++) p += `0(h${String.fromCharCode(i - 1)}h${String.fromCharCode(i - 1)}lq${String.fromCharCode(i)}`;
  return latin1(`${p}u.`);
}

describe('importing hostile or unusual model folders', () => {
  const tmp = makeTempDir();
  const store = new ModelStore(join(tmp.dir, 'store'));
  let n = 0;
  afterAll(tmp.cleanup);

  /** A copy of the real 3d model under `name`, changed by `edit`. */
  function variant(name: string, edit: (folder: string) => void = () => {}): string {
    const folder = join(tmp.dir, `v${n++}`, name);
    cpSync(PLAIN, folder, { recursive: true });
    edit(folder);
    return folder;
  }
  type PlansConfiguration = { patch_size: number[]; spacing: number[]; architecture: { arch_kwargs: Record<string, unknown> } };
  const editPlans = (f: (c: PlansConfiguration) => void) => (folder: string) => {
    const plans = JSON.parse(readFileSync(join(folder, 'plans.json'), 'utf8'));
    f(plans.configurations['3d_fullres']);
    writeFileSync(join(folder, 'plans.json'), JSON.stringify(plans));
  };
  const replaceCheckpoint = (bytes: Uint8Array) => (folder: string) => writeFileSync(join(folder, 'fold_0/checkpoint_final.pth'), bytes);
  const storeIsEmpty = () => expect(readdirSync(store.root)).toEqual([]);

  it('a results folder renamed to anything imports: recognised by its content, identity from plans.json and the checkpoint', async () => {
    const stored = await store.importModel(variant('my model (copy)'), { name: 'renamed' });
    expect(stored.card.configurations).toMatchObject([
      { configuration: '3d_fullres', trainer: 'nnUNetTrainer_25epochs_40it', plans: 'nnUNetPlans_tiny', folder: 'nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres' },
    ]);
    store.delete('renamed');
  });

  it.each([
    ['a patch of 10⁵ voxels per axis', editPlans((c) => (c.patch_size = [100000, 100000, 100000])), /patch_size \[100000,100000,100000\] is not 3 integers in 1…4096/],
    ['a patch of 2³⁰ voxels', editPlans((c) => (c.patch_size = [1024, 1024, 1024])), /has 1073741824 voxels \(at most 67108864\)/],
    ['a million features', editPlans((c) => (c.architecture.arch_kwargs.features_per_stage = [1e6, 1e6, 1e6, 1e6])), /features_per_stage/],
    ['a thousand stages', editPlans((c) => (c.architecture.arch_kwargs.n_stages = 1000)), /n_stages/],
    ['a negative spacing', editPlans((c) => (c.spacing = [-1, 1, 1])), /spacing \[-1,1,1\] is not 3 positive finite numbers/],
    [
      'a network of billions of parameters',
      editPlans((c) => {
        const k = c.architecture.arch_kwargs;
        k.n_stages = 8;
        k.features_per_stage = Array(8).fill(4096);
        k.kernel_sizes = Array(8).fill([7, 7, 7]);
        k.strides = [[1, 1, 1], ...Array(7).fill([1, 1, 1])];
        k.n_conv_per_stage = Array(8).fill(2);
        k.n_conv_per_stage_decoder = Array(7).fill(2);
      }),
      /network of .* parameters .*refusing absurd plans/,
    ],
  ])('absurd plans (%s) are refused for being absurd, before any tensor is read', async (_, edit, reason) => {
    // the checkpoint is broken too: the plans must be the reason given (the folder keeps nnU-Net's name, so
    // nothing needs reading from the checkpoint to know the configuration)
    const folder = variant('nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres', (f) => {
      edit(f);
      replaceCheckpoint(latin1('not a zip'))(f);
    });
    await expect(store.importModel(folder, { name: 'absurd' })).rejects.toThrow(reason);
    storeIsEmpty();
  });

  it.each([
    ['a pickle that calls os.system', torchZip(latin1('\x80\x02cposix\nsystem\nX\x02\x00\x00\x00ls\x85R.')), /refusing to load global "posix.system"/],
    ['a pickle that calls builtins.eval through STACK_GLOBAL', torchZip(latin1('\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.')), /refusing to load global "builtins.eval"/],
    ['shared references that expand to 2³⁰ values', torchZip(laughsPickle(30)), /expands to more than 4000000 values/],
    ['a legacy (pre-zip) torch file', latin1('\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.'), /legacy \(pre-zip\) torch serialization/],
    ['a text file', latin1('hello'), /not a zip archive/],
  ])('a checkpoint that is %s is refused for that', async (_, bytes, reason) => {
    const folder = variant('crafted', replaceCheckpoint(bytes));
    await expect(store.importModel(folder, { name: 'crafted' })).rejects.toThrow(reason);
    storeIsEmpty();
  });

  it('a truncated checkpoint is refused as unreadable', async () => {
    const real = readFileSync(join(PLAIN, 'fold_0/checkpoint_final.pth'));
    const folder = variant('truncated', replaceCheckpoint(real.subarray(0, real.length >> 1)));
    await expect(store.importModel(folder, { name: 'truncated' })).rejects.toThrow(/not a readable nnU-Net checkpoint/);
    storeIsEmpty();
  });

  it('weights that do not fit the plans are refused naming the parameters', async () => {
    // sane plans, but twice the features the checkpoint was trained with
    const folder = variant('wider', editPlans((c) => (c.architecture.arch_kwargs.features_per_stage = [8, 16, 32, 64])));
    await expect(store.importModel(folder, { name: 'wider' })).rejects.toThrow(/encoder\.stages\.0\.0\.convs\.0\.conv\.weight/);
    storeIsEmpty();
  });

  it('a checkpoint of another configuration under a 3d_fullres name is refused', async () => {
    const folder = variant('nnUNetTrainer__nnUNetPlans_tiny__2d');
    await expect(store.importModel(folder, { name: 'wrongname' })).rejects.toThrow(/trained for configuration "3d_fullres" but stored under "2d"/);
    storeIsEmpty();
  });

  it('a folder with plans but no fold is not a model', async () => {
    const empty = join(tmp.dir, 'empty-model');
    cpSync(join(PLAIN, 'plans.json'), join(empty, 'plans.json'));
    cpSync(join(PLAIN, 'dataset.json'), join(empty, 'dataset.json'));
    await expect(store.importModel(empty, { name: 'nofold' })).rejects.toThrow(/contains no nnU-Net results folder/);
    storeIsEmpty();
  });
});
