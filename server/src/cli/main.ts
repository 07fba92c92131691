#!/usr/bin/env node
/** The `nnseg` command. Each subcommand lives in ./commands and registers itself on the program. */
import { Command } from 'commander';
import { NNSEG_VERSION } from '../contract/version.js';
import { COMMANDS } from './commands/index.js';

const program = new Command('nnseg')
  .description('nnU-Net v2 compatible segmentation: plan, preprocess, train, predict, DICOM, serve')
  .version(NNSEG_VERSION)
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

for (const register of COMMANDS) register(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as Error;
  process.stderr.write(`nnseg: ${err?.message ?? String(e)}\n`);
  if (process.env.NNSEG_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  // exit explicitly: wasm runtimes (itk-wasm) may reset process.exitCode while they shut down
  process.exit(1);
});
