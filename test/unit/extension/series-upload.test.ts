import { createHash } from 'node:crypto';
import { UploadSchedule, buildManifest, sha256Hex } from '../../../extension/src/series-upload.js';

describe('buildManifest', () => {
  it('gives index, size and the WebCrypto sha256 of each instance (same as node:crypto)', async () => {
    const a = new TextEncoder().encode('abc');
    const b = new Uint8Array(70_000).fill(9);
    const m = await buildManifest([a, b]);
    expect(m[0]).toEqual({ index: 0, size: 3, sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
    expect(m[1]).toEqual({ index: 1, size: 70_000, sha256: createHash('sha256').update(b).digest('hex') });
    expect(await sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('refuses an empty series or an empty instance, naming it', async () => {
    await expect(buildManifest([])).rejects.toThrow(/empty series/);
    await expect(buildManifest([new Uint8Array(2), new Uint8Array(0)])).rejects.toThrow(/instance 1 is empty/);
  });
});

describe('UploadSchedule', () => {
  it('sends whole chunks in order until the window is full, continues on acks', () => {
    const s = new UploadSchedule([250, 100], { window: 200, chunkBytes: 100 });
    expect(s.take()).toEqual({ index: 0, offset: 0, length: 100 });
    expect(s.take()).toEqual({ index: 0, offset: 100, length: 100 });
    expect(s.take()).toBeNull(); // 200 unacknowledged = window
    s.applyAck({ index: 0, received: 100, complete: false, totalReceived: 100 });
    expect(s.take()).toEqual({ index: 0, offset: 200, length: 50 });
    expect(s.take()).toBeNull(); // 150 in flight, next chunk of 100 would exceed 200
    s.applyAck({ index: 0, received: 250, complete: true, totalReceived: 250 });
    expect(s.take()).toEqual({ index: 1, offset: 0, length: 100 });
    expect(s.take()).toBeNull();
    expect(s.done).toBe(false);
    s.applyAck({ index: 1, received: 100, complete: true, totalReceived: 350 });
    expect(s.done).toBe(true);
    expect(s.unacknowledgedBytes).toBe(0);
  });

  it('resumes at the durable offsets of an uploadStatus, forgetting what was in flight', () => {
    const s = new UploadSchedule([300, 300], { window: 1000, chunkBytes: 100 });
    for (let i = 0; i < 5; i++) s.take();
    expect(s.sentBytes).toBe(500);
    s.applyStatus({ window: 1000, instances: [{ index: 0, received: 300, complete: true }, { index: 1, received: 100, complete: false }] });
    expect(s.unacknowledgedBytes).toBe(0);
    expect(s.take()).toEqual({ index: 1, offset: 100, length: 100 });
  });

  it('restarts one instance from 0 after a checksum mismatch', () => {
    const s = new UploadSchedule([150], { window: 1000, chunkBytes: 100 });
    s.take();
    s.take();
    s.applyAck({ index: 0, received: 100, complete: false, totalReceived: 100 });
    s.restartInstance(0);
    expect(s.unacknowledgedBytes).toBe(0);
    expect(s.take()).toEqual({ index: 0, offset: 0, length: 100 });
  });

  it('never sends a chunk larger than a window smaller than the chunk size', () => {
    const s = new UploadSchedule([500], { window: 64, chunkBytes: 100 });
    expect(s.take()).toEqual({ index: 0, offset: 0, length: 64 });
    expect(s.take()).toBeNull();
  });

  it('rejects a status naming an instance outside the manifest', () => {
    const s = new UploadSchedule([10], { window: 10, chunkBytes: 10 });
    expect(() => s.applyStatus({ window: 10, instances: [{ index: 3, received: 0, complete: false }] })).toThrow(/instance 3/);
  });
});
