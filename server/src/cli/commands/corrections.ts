import type { Command } from 'commander';
import { CorrectionStore, correctionsRoot } from '../../corrections/correction-store.js';
import { authHeaders } from '../../dicom/dicomweb/client.js';
import { loadServerConfig } from '../../config/server-config.js';
import { nnunetRoot } from '../../io/nnunet-paths.js';
import { buildCorrectionsDataset } from '../../training/corrections-dataset.js';
import { ProgressBar } from '../progress.js';

interface Common {
  workDir?: string;
  config?: string;
}

/** --work-dir, else the server config's workDir (the same resolution `nnseg serve` uses); the config is read only when needed. */
function workDirOf(o: Common, needPacs = false): { workDir: string; pacs?: { url: string; headers?: Record<string, string> } } {
  if (o.workDir !== undefined && !needPacs) return { workDir: o.workDir };
  const config = loadServerConfig(o.config);
  return { workDir: o.workDir ?? config.workDir, ...(config.pacs ? { pacs: config.pacs } : {}) };
}

export function register(program: Command): void {
  const cmd = program.command('corrections').description('corrected labelmaps sent from the viewer (POST /api/corrections): list, delete, prune, build an nnU-Net training dataset');

  cmd
    .command('list')
    .description('list the stored corrections of a server work dir')
    .option('--work-dir <folder>', "the server's work dir (default: from the server config, as nnseg serve resolves it)")
    .option('--config <file>', 'server config JSON (default ./nnseg.config.json if present; env NNSEG_CONFIG)')
    .option('--json', 'print JSON')
    .action((o: Common & { json?: boolean }) => {
      const { workDir } = workDirOf(o);
      const { corrections, broken } = new CorrectionStore(correctionsRoot(workDir)).list();
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ corrections, broken }, null, 2)}\n`);
        return;
      }
      for (const c of corrections) process.stdout.write(`${c.id}  ${c.receivedAt}  ${c.subject}  ${c.header.model}  series ${c.header.seriesInstanceUID}  ${c.header.shape.join('×')}\n`);
      for (const b of broken) process.stderr.write(`broken ${b.id}: ${b.reason}\n`);
      process.stderr.write(`${corrections.length} correction(s) in ${correctionsRoot(workDir)}\n`);
    });

  cmd
    .command('delete')
    .description('delete stored corrections by id')
    .argument('<ids...>', 'correction ids (from nnseg corrections list)')
    .option('--work-dir <folder>', "the server's work dir (default: from the server config)")
    .option('--config <file>', 'server config JSON (default ./nnseg.config.json if present; env NNSEG_CONFIG)')
    .action((ids: string[], o: Common) => {
      const store = new CorrectionStore(correctionsRoot(workDirOf(o).workDir));
      const unknown = ids.filter((id) => !store.has(id));
      if (unknown.length) throw new Error(`no stored correction ${unknown.join(', ')} in ${store.root} (nothing deleted)`);
      for (const id of ids) store.delete(id);
      process.stderr.write(`deleted ${ids.length} correction(s)\n`);
    });

  cmd
    .command('prune')
    .description('retention: delete the corrections received more than N days ago')
    .requiredOption('--older-than <days>', 'age in days (fractions allowed)')
    .option('--work-dir <folder>', "the server's work dir (default: from the server config)")
    .option('--config <file>', 'server config JSON (default ./nnseg.config.json if present; env NNSEG_CONFIG)')
    .option('--dry-run', 'only list what would be deleted')
    .action((o: Common & { olderThan: string; dryRun?: boolean }) => {
      const days = Number(o.olderThan);
      if (!(days >= 0)) throw new Error(`--older-than must be a number of days ≥ 0, got "${o.olderThan}"`);
      const store = new CorrectionStore(correctionsRoot(workDirOf(o).workDir));
      const cutoff = Date.now() - days * 86_400_000;
      const old = store.list().corrections.filter((c) => Date.parse(c.receivedAt) < cutoff);
      for (const c of old) {
        if (!o.dryRun) store.delete(c.id);
        process.stdout.write(`${o.dryRun ? 'would delete' : 'deleted'} ${c.id} (received ${c.receivedAt})\n`);
      }
      process.stderr.write(`${old.length} correction(s) older than ${days} day(s)${o.dryRun ? ' (dry run)' : ''}\n`);
    });

  cmd
    .command('dataset')
    .description('build an nnU-Net v2 raw dataset (imagesTr, labelsTr, dataset.json) from the stored corrections, retrieving each series from the PACS')
    .requiredOption('--name <DatasetNNN_Name>', 'dataset folder name, e.g. Dataset510_LiverCorrections')
    .option('-o, --output <folder>', 'raw root the dataset folder is written into (default $nnUNet_raw)')
    .option('--work-dir <folder>', "the server's work dir (default: from the server config)")
    .option('--config <file>', 'server config JSON (default ./nnseg.config.json if present; env NNSEG_CONFIG)')
    .option('--pacs <url>', 'DICOMweb root of the PACS (default: pacs.url of the server config; env NNSEG_PACS_URL)')
    .option('--pacs-token <token>', 'bearer token for the PACS (env NNSEG_PACS_TOKEN)')
    .option('--model <name>', "only this model's corrections (needed when models with different labels have corrections)")
    .option('--file-ending <ending>', 'image file ending: .nii.gz, .nrrd or .mha', '.nii.gz')
    .option('--overwrite', 'replace an existing dataset folder of that name')
    .action(async (o: Common & { name: string; output?: string; pacs?: string; pacsToken?: string; model?: string; fileEnding: string; overwrite?: boolean }) => {
      const { workDir, pacs } = workDirOf(o, o.pacs === undefined);
      const pacsUrl = o.pacs ?? pacs?.url;
      if (!pacsUrl) throw new Error('no PACS: pass --pacs <DICOMweb url> or set pacs.url in the server config (NNSEG_PACS_URL)');
      const rawRoot = o.output ?? nnunetRoot('nnUNet_raw');
      if (!rawRoot) throw new Error('no output folder: pass -o <raw folder> or set nnUNet_raw');
      if (!['.nii.gz', '.nrrd', '.mha'].includes(o.fileEnding)) throw new Error(`--file-ending must be .nii.gz, .nrrd or .mha, got "${o.fileEnding}"`);
      const token = o.pacsToken ?? process.env.NNSEG_PACS_TOKEN;
      const headers = { ...(o.pacs === undefined ? (pacs?.headers ?? {}) : {}), ...(token ? authHeaders({ token }) : {}) };
      let bar: ProgressBar | undefined;
      const built = await buildCorrectionsDataset({
        workDir,
        pacsUrl,
        pacsHeaders: headers,
        rawRoot,
        name: o.name,
        ...(o.model !== undefined ? { model: o.model } : {}),
        overwrite: o.overwrite ?? false,
        fileEnding: o.fileEnding as '.nii.gz',
        onCase: (done, total) => {
          bar ??= new ProgressBar('retrieve + write cases', total);
          bar.update(done);
        },
        onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
      });
      process.stdout.write(`${built.folder}: ${built.manifest.cases.length} case(s), labels ${JSON.stringify(built.datasetJson.labels)}, channel 0 ${JSON.stringify((built.datasetJson.channel_names as Record<string, string>)['0'])}\n`);
      process.stderr.write(`next: nnseg plan-and-preprocess -d ${built.folder} --verify, then nnseg train\n`);
    });
}
