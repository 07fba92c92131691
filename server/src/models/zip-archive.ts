/**
 * Safe extraction of model zips (nnUNetv2_export_model_to_zip output). A zip is untrusted input:
 * entries that escape the target folder (zip-slip), symbolic links, and archives that expand past a
 * size limit are refused before anything is written outside the target.
 */
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';

export interface ExtractOptions {
  /**
   * refuse archives whose entries add up to more than this many bytes (default: 8× the archive, at least
   * 64 MiB, at most 20 GiB — nnU-Net model zips hold checkpoints, which barely compress; a zip bomb does)
   */
  maxTotalBytes?: number;
  /** refuse archives with more entries than this (default 10 000) */
  maxEntries?: number;
}

/** What an archive of `archiveBytes` may expand to by default (see ExtractOptions.maxTotalBytes). */
export function defaultMaxExtractedBytes(archiveBytes: number): number {
  return Math.min(20 * 2 ** 30, Math.max(64 * 2 ** 20, 8 * archiveBytes));
}

/** Checks one entry name; returns the normalized relative path or throws naming the entry. */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw new Error(`zip entry "${name}" has a NUL byte in its name`);
  const slashed = name.replace(/\\/g, '/');
  if (isAbsolute(slashed) || /^[a-zA-Z]:/.test(slashed) || slashed.startsWith('/'))
    throw new Error(`zip entry "${name}" has an absolute path; refusing to extract`);
  const normalized = normalize(slashed);
  if (normalized === '..' || normalized.startsWith(`..${sep}`) || normalized.split(sep).includes('..'))
    throw new Error(`zip entry "${name}" escapes the target folder (zip-slip); refusing to extract`);
  return normalized;
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: true, strictFileNames: false, validateEntrySizes: true }, (err, zip) =>
      err ? reject(new Error(`${path}: not a readable zip archive (${err.message})`)) : resolve(zip!),
    ),
  );
}

/** Extracts `zipPath` into `targetDir` (which should be a fresh folder); returns the relative paths written. */
export async function extractZip(zipPath: string, targetDir: string, options: ExtractOptions = {}): Promise<string[]> {
  const maxTotal = options.maxTotalBytes ?? defaultMaxExtractedBytes(statSync(zipPath).size);
  const maxEntries = options.maxEntries ?? 10_000;
  const zip = await openZip(zipPath);
  // Validate the whole central directory first so a bad entry late in the archive writes nothing.
  const entries: yauzl.Entry[] = await new Promise((resolve, reject) => {
    const all: yauzl.Entry[] = [];
    let total = 0;
    zip.on('entry', (entry: yauzl.Entry) => {
      try {
        safeEntryPath(entry.fileName);
        const unixMode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (unixMode === 0o120000) throw new Error(`zip entry "${entry.fileName}" is a symbolic link; refusing to extract`);
        total += entry.uncompressedSize;
        if (total > maxTotal) throw new Error(`${zipPath}: expands to more than ${maxTotal} bytes; refusing to extract`);
        if (all.length >= maxEntries) throw new Error(`${zipPath}: has more than ${maxEntries} entries; refusing to extract`);
        all.push(entry);
        zip.readEntry();
      } catch (e) {
        zip.close();
        reject(e);
      }
    });
    zip.on('end', () => resolve(all));
    // yauzl validates names itself and fails on the first bad one with its own wording.
    zip.on('error', (e: Error) =>
      reject(
        new Error(
          /invalid relative path|absolute path|invalid characters/.test(e.message)
            ? `${zipPath}: an entry escapes the target folder (zip-slip; ${e.message}); refusing to extract`
            : `${zipPath}: ${e.message}`,
        ),
      ),
    );
    zip.readEntry();
  });
  zip.close();

  const written: string[] = [];
  const reader = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false }, (err, z) => (err ? reject(err) : resolve(z!))),
  );
  try {
    for (const entry of entries) {
      const rel = safeEntryPath(entry.fileName);
      const out = join(targetDir, rel);
      if (entry.fileName.endsWith('/')) {
        mkdirSync(out, { recursive: true });
        continue;
      }
      mkdirSync(dirname(out), { recursive: true });
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
        reader.openReadStream(entry, (err, s) => (err ? reject(new Error(`zip entry "${entry.fileName}": ${err.message}`)) : resolve(s!))),
      );
      await pipeline(stream, createWriteStream(out));
      written.push(rel);
    }
  } finally {
    reader.close();
  }
  return written;
}
