/**
 * Pushing a series to the nnseg server (docs/protocol.md, "segment — pushed series", "Flow control",
 * "Resume"): the manifest (size + sha256 per instance, via WebCrypto), the chunk schedule, and the
 * client side of flow control. Pure logic: no sockets here (server-connection.ts drives it).
 */
import type { InstanceManifestEntry } from '../../server/src/contract/protocol.js';

/** WebCrypto subtle digest (browser `crypto.subtle`, Node ≥ 20 `globalThis.crypto.subtle`). */
interface SubtleLike {
  digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>;
}

function subtle(): SubtleLike {
  const c = (globalThis as { crypto?: { subtle?: SubtleLike } }).crypto;
  if (!c?.subtle) throw new Error('WebCrypto (crypto.subtle) is not available: the viewer must be served over https or from localhost');
  return c.subtle;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await subtle().digest('SHA-256', bytes));
  let s = '';
  for (let i = 0; i < digest.length; i++) s += digest[i].toString(16).padStart(2, '0');
  return s;
}

/** The manifest the `segment` message carries: index, Part 10 size and sha256 for each instance. */
export async function buildManifest(instances: readonly Uint8Array[]): Promise<InstanceManifestEntry[]> {
  if (instances.length === 0) throw new Error('cannot push an empty series: no instances');
  const out: InstanceManifestEntry[] = [];
  for (let index = 0; index < instances.length; index++) {
    const bytes = instances[index];
    if (bytes.byteLength === 0) throw new Error(`instance ${index} is empty (0 bytes)`);
    out.push({ index, size: bytes.byteLength, sha256: await sha256Hex(bytes) });
  }
  return out;
}

export interface ChunkPlan {
  index: number;
  offset: number;
  length: number;
}

/**
 * The chunk schedule of one upload. The invariant the server enforces: bytes sent − acknowledged ≤
 * window, where "sent" counts every byte up to each instance's next offset and "acknowledged" is the
 * latest ack's `totalReceived`. Instances go one after the other (the server allows interleaving; in
 * order keeps the spool sequential).
 */
export class UploadSchedule {
  readonly sizes: readonly number[];
  readonly totalBytes: number;
  private readonly next: number[];
  private readonly complete: boolean[];
  private acknowledged = 0;
  private window: number;
  private readonly chunkBytes: number;

  constructor(sizes: readonly number[], options: { window: number; chunkBytes: number }) {
    if (!(options.window > 0) || !(options.chunkBytes > 0)) throw new Error(`bad upload window ${options.window} or chunk size ${options.chunkBytes}`);
    this.sizes = sizes;
    this.totalBytes = sizes.reduce((a, b) => a + b, 0);
    this.next = sizes.map(() => 0);
    this.complete = sizes.map(() => false);
    this.window = options.window;
    this.chunkBytes = options.chunkBytes;
  }

  /** Applies an `uploadStatus` (first answer or after `resumeUpload`): continue at the durable offsets. */
  applyStatus(status: { window: number; instances: { index: number; received: number; complete: boolean }[] }): void {
    this.window = status.window;
    for (const s of status.instances) {
      if (s.index < 0 || s.index >= this.sizes.length) throw new Error(`uploadStatus names instance ${s.index}, the manifest has ${this.sizes.length}`);
      this.next[s.index] = s.received;
      this.complete[s.index] = s.complete;
    }
    this.acknowledged = this.next.reduce((a, b) => a + b, 0);
  }

  applyAck(ack: { index: number; received: number; complete: boolean; totalReceived: number }): void {
    this.acknowledged = ack.totalReceived;
    if (ack.complete) this.complete[ack.index] = true;
  }

  /** CHECKSUM_MISMATCH: the server discarded this instance's bytes; send it again from 0. */
  restartInstance(index: number): void {
    this.acknowledged = Math.max(0, this.acknowledged - this.next[index]);
    this.next[index] = 0;
    this.complete[index] = false;
  }

  get sentBytes(): number {
    return this.next.reduce((a, b) => a + b, 0);
  }

  get acknowledgedBytes(): number {
    return this.acknowledged;
  }

  get unacknowledgedBytes(): number {
    return this.sentBytes - this.acknowledged;
  }

  /** every instance complete and checked by the server */
  get done(): boolean {
    return this.complete.every(Boolean);
  }

  /** The next chunk to send, or null when everything is sent or the window is full. Marks it as sent. */
  take(): ChunkPlan | null {
    const room = this.window - this.unacknowledgedBytes;
    if (room <= 0) return null;
    for (let index = 0; index < this.sizes.length; index++) {
      const offset = this.next[index];
      if (offset >= this.sizes[index]) continue;
      // Whole chunks only (a chunk never exceeds the window): wait for acks rather than send slivers.
      const length = Math.min(this.chunkBytes, this.window, this.sizes[index] - offset);
      if (length > room) return null;
      this.next[index] = offset + length;
      return { index, offset, length };
    }
    return null;
  }
}
