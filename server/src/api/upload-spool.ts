/**
 * One pushed series being received: instance bytes are appended to files in the upload's own folder as
 * chunks arrive (never the whole series in RAM), each instance's sha256 is computed incrementally and
 * checked against the manifest when its last byte is written. Writes are serialised per upload, so the
 * durable `received` count per instance is exact at any moment — that is what `resumeUpload` reports.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ErrorCode, InstanceManifestEntry } from '../contract/protocol.js';
import { rejectNonImageInstance } from './dicom-sniff.js';

export class UploadError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

/** Bytes of an instance's head kept for the non-image check (meta group fits easily). */
const HEAD_BYTES = 2048;
/**
 * Files one upload keeps open: a client may interleave chunks of all its instances, but the server holds only
 * this many descriptors and reopens an instance's file when its next chunk comes (hashes stay in memory).
 */
export const MAX_OPEN_FILES_PER_UPLOAD = 4;

interface InstanceState {
  size: number;
  sha256: string;
  /** bytes durably written */
  received: number;
  /** bytes accepted for writing (≥ received while writes are pending) */
  accepted: number;
  complete: boolean;
  hash: Hash;
  file?: FileHandle;
  head: Uint8Array;
}

export interface ChunkOutcome {
  index: number;
  received: number;
  complete: boolean;
  totalReceived: number;
  /** every instance complete */
  done: boolean;
}

export class UploadSpool {
  readonly folder: string;
  readonly totalBytes: number;
  private readonly instances: InstanceState[];
  private chain: Promise<unknown> = Promise.resolve();
  /** instances with an open file, least recently written first */
  private readonly openFiles: number[] = [];
  private pending = 0;
  private totalReceived = 0;
  private closed = false;
  /** chunks whose offset repeated bytes already accepted (a client that sent a chunk twice) */
  duplicateChunks = 0;

  constructor(
    readonly uploadId: string,
    parentFolder: string,
    manifest: InstanceManifestEntry[],
  ) {
    this.folder = join(parentFolder, uploadId);
    mkdirSync(this.folder, { recursive: true });
    this.instances = manifest.map((m) => ({
      size: m.size,
      sha256: m.sha256,
      received: 0,
      accepted: 0,
      complete: false,
      hash: createHash('sha256'),
      head: new Uint8Array(Math.min(HEAD_BYTES, m.size)),
    }));
    this.totalBytes = manifest.reduce((s, m) => s + m.size, 0);
  }

  /** Bytes accepted but not yet written: the server's memory for this upload. */
  get pendingBytes(): number {
    return this.pending;
  }

  get receivedBytes(): number {
    return this.totalReceived;
  }

  get isComplete(): boolean {
    return this.instances.every((s) => s.complete);
  }

  status(): { index: number; received: number; complete: boolean }[] {
    return this.instances.map((s, index) => ({ index, received: s.received, complete: s.complete }));
  }

  instancePath(index: number): string {
    return join(this.folder, `instance-${String(index).padStart(6, '0')}.dcm`);
  }

  /** Waits until every accepted chunk is written, then forgets chunks in flight from a dropped socket. */
  async settle(): Promise<void> {
    await this.chain.catch(() => {});
    for (const s of this.instances) s.accepted = s.received;
  }

  /**
   * Validates a chunk synchronously (throws UploadError) and queues its write; the promise resolves after
   * the bytes are on disk (and, for an instance's last chunk, after its checksum and type were checked).
   * The payload is kept as a view until written: ws hands every message its own buffer, so no copy.
   */
  accept(index: number, offset: number, payload: Uint8Array): Promise<ChunkOutcome> {
    if (this.closed) throw new UploadError('UNKNOWN_UPLOAD', `upload ${this.uploadId} is closed`);
    const s = this.instances[index];
    if (s === undefined) throw new UploadError('CHUNK_OUT_OF_RANGE', `instance index ${index} is not in the manifest (0…${this.instances.length - 1})`, index);
    if (payload.byteLength === 0) throw new UploadError('BAD_FRAME', `empty chunk for instance ${index}`, index);
    if (s.complete) {
      this.duplicateChunks++;
      throw new UploadError('CHUNK_OUT_OF_ORDER', `instance ${index} is already complete`, index);
    }
    if (offset !== s.accepted) {
      if (offset < s.accepted) this.duplicateChunks++;
      throw new UploadError('CHUNK_OUT_OF_ORDER', `instance ${index}: chunk at offset ${offset}, expected ${s.accepted}`, index);
    }
    if (offset + payload.byteLength > s.size)
      throw new UploadError('CHUNK_OUT_OF_RANGE', `instance ${index}: chunk [${offset}, ${offset + payload.byteLength}) is beyond its declared size ${s.size}`, index);
    s.accepted += payload.byteLength;
    const bytes = payload;
    this.pending += bytes.byteLength;
    const run = this.chain.then(() => this.write(index, offset, bytes)).finally(() => {
      this.pending -= bytes.byteLength;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  private async write(index: number, offset: number, bytes: Uint8Array): Promise<ChunkOutcome> {
    if (this.closed) throw new UploadError('UNKNOWN_UPLOAD', `upload ${this.uploadId} was closed`);
    const s = this.instances[index];
    if (offset !== s.received) throw new UploadError('CHUNK_OUT_OF_ORDER', `instance ${index}: chunk at offset ${offset}, stored ${s.received}`, index);
    if (!s.file) {
      if (this.openFiles.length >= MAX_OPEN_FILES_PER_UPLOAD) await this.closeFile(this.openFiles[0]!);
      s.file = await open(this.instancePath(index), offset === 0 ? 'w' : 'r+');
      this.openFiles.push(index);
    } else {
      this.openFiles.push(...this.openFiles.splice(this.openFiles.indexOf(index), 1));
    }
    await s.file.write(bytes, 0, bytes.byteLength, offset);
    s.hash.update(bytes);
    if (offset < s.head.length) s.head.set(bytes.subarray(0, s.head.length - offset), offset);
    s.received += bytes.byteLength;
    this.totalReceived += bytes.byteLength;
    if (s.received === s.size) {
      await this.closeFile(index);
      const digest = s.hash.digest('hex');
      if (digest !== s.sha256) {
        this.resetInstance(index);
        throw new UploadError('CHECKSUM_MISMATCH', `instance ${index}: sha256 ${digest} differs from the manifest; its bytes were discarded, send it again from offset 0`, index);
      }
      const reason = rejectNonImageInstance(s.head);
      if (reason) throw new UploadError('BAD_SERIES', `instance ${index}: ${reason}`, index);
      s.complete = true;
    }
    return { index, received: s.received, complete: s.complete, totalReceived: this.totalReceived, done: this.isComplete };
  }

  private async closeFile(index: number): Promise<void> {
    const s = this.instances[index]!;
    const i = this.openFiles.indexOf(index);
    if (i >= 0) this.openFiles.splice(i, 1);
    const f = s.file;
    s.file = undefined;
    await f?.close();
  }

  /** Descriptors this upload holds now (at most MAX_OPEN_FILES_PER_UPLOAD). */
  get openFileCount(): number {
    return this.openFiles.length;
  }

  private resetInstance(index: number): void {
    const s = this.instances[index];
    this.totalReceived -= s.received;
    s.received = 0;
    s.accepted = 0;
    s.hash = createHash('sha256');
    s.head.fill(0);
  }

  /** Closes open files; removes the folder unless `keep`. */
  async close(keep = false): Promise<void> {
    this.closed = true;
    await this.chain.catch(() => {});
    for (const i of [...this.openFiles]) await this.closeFile(i).catch(() => {});
    if (!keep) rmSync(this.folder, { recursive: true, force: true });
  }
}
