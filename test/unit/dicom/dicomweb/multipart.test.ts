import { boundaryOf, buildMultipart, parseContentType, parseMultipart, type MultipartEvent } from '../../../../server/src/dicom/dicomweb/multipart.js';

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let k = 0;
  while (at < bytes.length) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    yield bytes.slice(at, at + size);
    at += size;
  }
}

interface Part { headers: Record<string, string>; body: string }

async function collect(events: AsyncIterable<MultipartEvent>): Promise<Part[]> {
  const parts: Part[] = [];
  let current: { headers: Record<string, string>; chunks: Buffer[] } | undefined;
  for await (const e of events) {
    if (e.type === 'headers') {
      expect(current).toBeUndefined();
      current = { headers: e.headers, chunks: [] };
    } else if (e.type === 'data') {
      current!.chunks.push(Buffer.from(e.data)); // copy: the view is only valid until the next pull
    } else {
      parts.push({ headers: current!.headers, body: Buffer.concat(current!.chunks).toString('latin1') });
      current = undefined;
    }
  }
  expect(current).toBeUndefined();
  return parts;
}

const parse = (body: string, boundary: string, sizes = [1 << 20]) => collect(parseMultipart(chunked(enc(body), sizes), boundary));

describe('parseContentType / boundaryOf', () => {
  it('reads a quoted boundary and a quoted type parameter', () => {
    const ct = 'multipart/related; type="application/dicom"; boundary="ab;c \\"d\\""';
    expect(parseContentType(ct)).toEqual({ mediaType: 'multipart/related', params: { type: 'application/dicom', boundary: 'ab;c "d"' } });
    expect(boundaryOf(ct)).toBe('ab;c "d"');
  });
  it('reads an unquoted boundary in any parameter order and case', () => {
    expect(boundaryOf('Multipart/Related;Boundary=xyz-1; type=application/dicom')).toBe('xyz-1');
  });
  it('names the header when it is not multipart or has no boundary', () => {
    expect(() => boundaryOf('application/dicom+json')).toThrow(/expected a multipart response, got Content-Type "application\/dicom\+json"/);
    expect(() => boundaryOf('multipart/related; type="application/dicom"')).toThrow(/without a boundary/);
  });
});

describe('parseMultipart', () => {
  const body =
    'this is a preamble\r\n' +
    '--B0undary\r\nContent-Type: application/dicom\r\nContent-Location: /a\r\n\r\n' +
    'first\r\n--B0und not a delimiter\r\n' +
    '\r\n--B0undary  \r\ncontent-type: application/dicom\r\n\r\n' +
    '' +
    '\r\n--B0undary\r\nContent-Type: text/plain\r\n\r\nthird\r\n\r\n' +
    '\r\n--B0undary--\r\nthis is the epilogue\r\n--B0undary\r\n';
  const expected: Part[] = [
    { headers: { 'content-type': 'application/dicom', 'content-location': '/a' }, body: 'first\r\n--B0und not a delimiter\r\n' },
    { headers: { 'content-type': 'application/dicom' }, body: '' },
    { headers: { 'content-type': 'text/plain' }, body: 'third\r\n\r\n' },
  ];

  it('splits parts, ignores preamble, transport padding and epilogue', async () => {
    expect(await parse(body, 'B0undary')).toEqual(expected);
  });

  it('gives the same parts for every chunking (boundaries split across chunks)', async () => {
    for (const sizes of [[1], [2], [3], [5, 1, 7], [11], [13, 2]]) expect(await parse(body, 'B0undary', sizes)).toEqual(expected);
    // every single split point of the body into two chunks
    for (let cut = 1; cut < body.length; cut++) {
      const parts = await collect(parseMultipart(chunked(enc(body), [cut, body.length]), 'B0undary'));
      expect(parts).toEqual(expected);
    }
  });

  it('accepts a body that starts directly with the delimiter and has no trailing CRLF', async () => {
    const parts = await parse('--x\r\nA: 1\r\n\r\nhello\r\n--x--', 'x', [2]);
    expect(parts).toEqual([{ headers: { a: '1' }, body: 'hello' }]);
  });

  it('accepts a part without headers and folded header lines', async () => {
    const parts = await parse('--x\r\n\r\nraw\r\n--x\r\nX-Long: a\r\n b\r\n\r\nz\r\n--x--', 'x');
    expect(parts).toEqual([{ headers: {}, body: 'raw' }, { headers: { 'x-long': 'a b' }, body: 'z' }]);
  });

  it('keeps binary bodies (all byte values, CR/LF/dash runs) byte-exact', async () => {
    const payload = new Uint8Array(5000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) % 256;
    payload.set(enc('\r\n--bnd'), 100); // a delimiter prefix that is not complete
    const built = buildMultipart([payload, payload.subarray(0, 17)], 'bnd-1234', 'application/dicom');
    const got: Uint8Array[] = [];
    const chunks: Buffer[] = [];
    for await (const e of parseMultipart(chunked(built, [97, 1, 13]), 'bnd-1234')) {
      if (e.type === 'data') chunks.push(Buffer.from(e.data));
      if (e.type === 'end') got.push(Buffer.concat(chunks.splice(0)));
    }
    expect(got.map((g) => Buffer.compare(Buffer.from(g), Buffer.from(payload.subarray(0, g.length))))).toEqual([0, 0]);
    expect(got.map((g) => g.length)).toEqual([5000, 17]);
  });

  it('streams: a 1 MiB part is yielded in pieces before its end arrives', async () => {
    const big = new Uint8Array(1 << 20).fill(0x41);
    const built = buildMultipart([big], 'q', 'application/dicom');
    let maxPiece = 0;
    let total = 0;
    for await (const e of parseMultipart(chunked(built, [65536]), 'q')) {
      if (e.type === 'data') {
        maxPiece = Math.max(maxPiece, e.data.length);
        total += e.data.length;
      }
    }
    expect(total).toBe(1 << 20);
    expect(maxPiece).toBeLessThanOrEqual(65536);
  });

  it('reports truncated and malformed bodies with the label', async () => {
    await expect(parse('--x\r\nA: 1\r\n\r\nhello', 'x')).rejects.toThrow(/multipart body: ends inside part 1 \(no closing "--x--"\)/);
    await expect(parse('no delimiter at all', 'x')).rejects.toThrow(/no "--x" delimiter found/);
    await expect(parse('--x\r\nA: 1\r\n', 'x')).rejects.toThrow(/ends inside the headers of part 1/);
    await expect(parse('--x\r\nbad header\r\n\r\nz\r\n--x--', 'x')).rejects.toThrow(/malformed part header line "bad header"/);
    await expect(parse('--xyz\r\n\r\nz\r\n--x--', 'x')).rejects.toThrow(/unexpected text after a boundary delimiter/);
  });

  it('builds an empty multipart that parses to no parts', async () => {
    expect(await collect(parseMultipart(chunked(buildMultipart([], 'e', 'application/dicom'), [3]), 'e'))).toEqual([]);
  });
});
