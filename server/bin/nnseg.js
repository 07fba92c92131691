#!/usr/bin/env node
// The `nnseg` bin. npm links bins when it installs, before `prepare` has compiled server/dist; a bin whose
// target does not exist yet is not linked at all (`npx nnseg` then fails on a fresh clone). This committed
// file always exists and runs the compiled command.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(`nnseg: not built yet (${fileURLToPath(main)} is missing): run \`npm run build\` first\n`);
  process.exit(1);
}
await import(main.href);
