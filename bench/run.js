#!/usr/bin/env node
/**
 * Benchmark runner: `npm run bench -- <name>` (or `node bench/run.js <name>`) compiles bench/<name>.ts with
 * swc into bench/out/<name>.mjs, pointing its ../server/src imports at the built ../server/dist
 * (run `npm run build` first), and runs it in a fresh node process (so its RSS is its own).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFileSync } from '@swc/core';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args]; benchmarks: ${available.join(', ')}`);
  process.exit(2);
}
if (!existsSync(join(here, '..', 'server', 'dist'))) {
  console.error('server/dist is missing: run `npm run build` first');
  process.exit(2);
}
const compile = (file) =>
  transformFileSync(file, { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }).code.replace(
    /'(\.\/lib\/[\w-]+)\.js'/g,
    "'$1.mjs'",
  );
// shared helpers (bench/lib/*.ts) go to bench/out/lib, one level deeper, so their server path gains a '../'
mkdirSync(join(here, 'out', 'lib'), { recursive: true });
for (const f of readdirSync(join(here, 'lib')).filter((f) => f.endsWith('.ts')))
  writeFileSync(join(here, 'out', 'lib', `${f.slice(0, -3)}.mjs`), compile(join(here, 'lib', f)).replaceAll("'../../server/src/", "'../../../server/dist/"));
const out = join(here, 'out', `${name}.mjs`);
writeFileSync(out, compile(join(here, `${name}.ts`)).replaceAll("'../server/src/", "'../../server/dist/"));
const r = spawnSync(process.execPath, [out, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
