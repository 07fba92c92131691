#!/usr/bin/env node
// Bundles the OHIF extension and mode into one ESM file each, loaded by the prebuilt viewer at run time
// (app-config.js `extensions`/`modes` entries → dynamic import()). The host does not expose its React or
// @ohif/core to runtime modules, so React (and dcmjs, zod) are bundled in. Usage:
//   node extension/scripts/build.mjs [--dev]   (--dev: no minification, inline source maps)
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dev = process.argv.includes('--dev');

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
  // protocol.ts (server/src/api) imports with NodeNext `.js` suffixes pointing at .ts sources
  resolveExtensions: ['.ts', '.tsx', '.mjs', '.js', '.json'],
  logLevel: 'info',
  legalComments: 'none',
};

const targets = [
  { entry: join(repoRoot, 'extension/src/index.tsx'), out: join(repoRoot, 'extension/dist/nnseg-extension.mjs') },
  { entry: join(repoRoot, 'modes/nnseg/src/index.ts'), out: join(repoRoot, 'modes/nnseg/dist/nnseg-mode.mjs') },
];

for (const { entry, out } of targets) {
  const result = await build({ ...common, entryPoints: [entry], outfile: out, metafile: true });
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`${out.slice(repoRoot.length + 1)}: ${(bytes / 1024).toFixed(0)} KiB`);
}
