import {
  CHUNK_HEADER_BYTES,
  ServerMessageSchema,
  decodeChunk,
  decodeServerFrame,
  encodeChunk,
  encodeServerFrame,
  parseClientMessage,
} from '../../../server/src/contract/protocol.js';

const UPLOAD = '3f7d4a8e-1c2b-4d5e-8f90-a1b2c3d4e5f6';
const SHA = 'a'.repeat(64);

describe('protocol: binary frames', () => {
  it('round-trips a chunk header with a 48-bit offset and the payload as a view', () => {
    const payload = new Uint8Array([1, 2, 3, 250]);
    const frame = encodeChunk({ uploadId: UPLOAD, index: 70000, offset: 2 ** 40 + 5 }, payload);
    expect(frame.byteLength).toBe(CHUNK_HEADER_BYTES + 4);
    expect(Array.from(frame.subarray(0, 4))).toEqual([0x4e, 0x4e, 0x43, 0x31]);
    expect(Array.from(frame.subarray(4, 8))).toEqual([0x3f, 0x7d, 0x4a, 0x8e]);
    const d = decodeChunk(frame);
    expect(d).toMatchObject({ uploadId: UPLOAD, index: 70000, offset: 2 ** 40 + 5 });
    expect(Array.from(d.payload)).toEqual([1, 2, 3, 250]);
    expect(d.payload.buffer).toBe(frame.buffer);
  });
  it('rejects short frames and wrong magic with the reason', () => {
    expect(() => decodeChunk(new Uint8Array(10))).toThrow(/shorter than the 32-byte chunk header/);
    const f = encodeChunk({ uploadId: UPLOAD, index: 0, offset: 0 }, new Uint8Array(1));
    f[0] = 0x58;
    expect(() => decodeChunk(f)).toThrow(/magic "NNC1".*0x584e4331/);
  });
  it('round-trips a server frame', () => {
    const f = encodeServerFrame(9, new Uint8Array([7, 8]));
    expect(decodeServerFrame(f)).toEqual({ frameId: 9, payload: new Uint8Array([7, 8]) });
    expect(() => decodeServerFrame(new Uint8Array(4))).toThrow(/shorter/);
  });
});

describe('protocol: client messages', () => {
  it('accepts a valid hello and a push segment', () => {
    expect(parseClientMessage(JSON.stringify({ type: 'hello', protocolVersion: 1, client: { name: 'x' } }))).toMatchObject({ ok: true });
    const seg = {
      type: 'segment',
      requestId: 'r',
      series: { kind: 'push', manifest: { instances: [{ index: 0, size: 3, sha256: SHA }, { index: 1, size: 5, sha256: SHA }] } },
      options: { model: 'm', folds: ['0', 'all'] },
    };
    expect(parseClientMessage(JSON.stringify(seg))).toMatchObject({ ok: true });
  });
  it.each([
    ['{not json', 'BAD_MESSAGE', /not valid JSON/],
    ['[1,2]', 'BAD_MESSAGE', /JSON object/],
    ['{"kind":"hello"}', 'BAD_MESSAGE', /no string "type"/],
    ['{"type":"explode"}', 'UNKNOWN_TYPE', /unknown message type "explode"/],
    ['{"type":"hello","protocolVersion":"1","client":{"name":"x"}}', 'BAD_MESSAGE', /protocolVersion/],
    ['{"type":"ping","extra":1}', 'BAD_MESSAGE', /extra/],
    ['{"type":"cancel"}', 'BAD_MESSAGE', /exactly one of jobId or uploadId/],
    ['{"type":"resumeUpload","uploadId":"../../etc"}', 'BAD_MESSAGE', /UUID/],
    [
      JSON.stringify({ type: 'segment', requestId: 'r', series: { kind: 'push', manifest: { instances: [{ index: 1, size: 3, sha256: SHA }] } }, options: { model: 'm' } }),
      'BAD_MESSAGE',
      /indices must be 0, 1/,
    ],
    [
      JSON.stringify({ type: 'segment', requestId: 'r', series: { kind: 'dicomweb', studyInstanceUID: '1.2', seriesInstanceUID: 'x;y' }, options: { model: 'm' } }),
      'BAD_MESSAGE',
      /DICOM UID/,
    ],
  ])('%s → %s', (text, code, msg) => {
    const r = parseClientMessage(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.message).toMatch(msg);
    }
  });
});

describe('protocol: server messages', () => {
  it('validates the documented examples and rejects unknown error codes', () => {
    expect(ServerMessageSchema.safeParse({ type: 'queued', jobId: 'job-42', position: 1 }).success).toBe(true);
    expect(ServerMessageSchema.safeParse({ type: 'error', code: 'CHECKSUM_MISMATCH', message: 'x', index: 3 }).success).toBe(true);
    expect(ServerMessageSchema.safeParse({ type: 'error', code: 'OOPS', message: 'x' }).success).toBe(false);
  });
});
