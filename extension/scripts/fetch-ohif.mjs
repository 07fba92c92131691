#!/usr/bin/env node
// Fetches the prebuilt OHIF viewer (@ohif/app, pinned) with `npm pack` into a cache folder outside git,
// checks the tarball against the pinned integrity and unpacks its `package/dist` to <cache>/dist.
// `npm install @ohif/app` fails (its @ohif/i18n dependency is missing from the registry); `npm pack` only
// downloads the one tarball. Usage: node extension/scripts/fetch-ohif.mjs [--cache <dir>] [--force]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const OHIF_VERSION = '3.13.2';
export const OHIF_INTEGRITY =
  'sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const cacheArg = args.indexOf('--cache');
const cache = resolve(cacheArg >= 0 ? args[cacheArg + 1] : join(repoRoot, '.cache', 'ohif'));
const force = args.includes('--force');
const distDir = join(cache, 'dist');
const stamp = join(cache, 'dist.version');

if (!force && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === `${OHIF_VERSION} ${OHIF_INTEGRITY}`) {
  console.log(`OHIF ${OHIF_VERSION} already unpacked in ${distDir}`);
  process.exit(0);
}
mkdirSync(cache, { recursive: true });

const tarball = join(cache, `ohif-app-${OHIF_VERSION}.tgz`);
if (force || !existsSync(tarball) || !integrityMatches(tarball)) {
  console.log(`npm pack @ohif/app@${OHIF_VERSION} → ${cache}`);
  const out = execFileSync('npm', ['pack', `@ohif/app@${OHIF_VERSION}`, '--pack-destination', cache, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [{ filename }] = JSON.parse(out);
  renameSync(join(cache, filename), tarball);
}
if (!integrityMatches(tarball)) {
  rmSync(tarball, { force: true });
  console.error(`integrity mismatch for ${tarball}: expected ${OHIF_INTEGRITY}; tarball removed`);
  process.exit(1);
}

// Unpack into a fresh folder, then swap it in so an interrupted run never leaves a half-written dist/.
const staging = join(cache, 'unpack.tmp');
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging);
execFileSync('tar', ['-xzf', tarball, '-C', staging, 'package/dist'], { stdio: 'inherit' });
const unpacked = join(staging, 'package', 'dist');
if (!existsSync(join(unpacked, 'index.html'))) {
  console.error(`${tarball} has no package/dist/index.html`);
  process.exit(1);
}
rmSync(distDir, { recursive: true, force: true });
renameSync(unpacked, distDir);
rmSync(staging, { recursive: true, force: true });
writeFileSync(stamp, `${OHIF_VERSION} ${OHIF_INTEGRITY}\n`);
console.log(`OHIF ${OHIF_VERSION} unpacked: ${distDir} (${readdirSync(distDir).length} entries)`);

function integrityMatches(file) {
  const [algo, expected] = OHIF_INTEGRITY.split(/-(.*)/s);
  return createHash(algo).update(readFileSync(file)).digest('base64') === expected;
}
