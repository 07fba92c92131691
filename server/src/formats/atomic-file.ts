/**
 * Whole-file writes that a crash cannot tear: the bytes go to a temporary name beside the target (same file
 * system, so the rename is atomic) and are renamed over it. A reader sees the old file or the new one,
 * never half of either; a failed write removes its temporary file.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dumpPythonJson, type PythonJsonOptions } from './python-json.js';

export interface AtomicWriteOptions {
  /** file mode of a new file (default 0o644 less the umask) */
  mode?: number;
  /** fsync before the rename: the new content survives a power loss, not only a process crash */
  durable?: boolean;
}

/** Writes `path` through `write(fd)` on a temporary file, then renames it into place. */
export function writeFileAtomicWith(path: string, write: (fd: number) => void, options: AtomicWriteOptions = {}): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = openSync(tmp, 'w', options.mode ?? 0o644);
  try {
    try {
      write(fd);
      if (options.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Writes all of `bytes` to an open file (writeSync may write less than asked; ≤ 1 GiB per call). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
}

/** Writes a string (UTF-8) or bytes atomically. */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  writeFileAtomicWith(path, (fd) => writeAll(fd, bytes), options);
}

/**
 * The one writer of JSON files, atomic. `python` writes them as nnU-Net's `save_json` does (Python's
 * json.dump formatting, `dumpPythonJson`) for the files nnU-Net reads; otherwise JSON.stringify with `indent`.
 */
export function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions & { python?: PythonJsonOptions; indent?: number } = {},
): void {
  const text = options.python ? dumpPythonJson(value, options.python) : `${JSON.stringify(value, null, options.indent)}\n`;
  writeFileAtomic(path, text, options);
}
