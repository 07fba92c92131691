/**
 * multipart/related (RFC 2046 §5.1, as DICOMweb uses it, PS3.18 §8.6.1.2): a streaming parser that yields
 * each part's headers and body bytes as they arrive (never the whole message), and a writer for STOW-RS.
 */

export interface ContentType {
  /** lower-case type/subtype, e.g. 'multipart/related' */
  mediaType: string;
  /** parameter names lower-cased; values unquoted */
  params: Record<string, string>;
}

/** Parses a Content-Type header value, handling quoted parameter values (with backslash escapes). */
export function parseContentType(value: string): ContentType {
  let i = value.indexOf(';');
  const mediaType = (i < 0 ? value : value.slice(0, i)).trim().toLowerCase();
  const params: Record<string, string> = {};
  while (i >= 0 && i < value.length) {
    i++; // past ';'
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
    const eq = value.indexOf('=', i);
    if (eq < 0) break;
    const name = value.slice(i, eq).trim().toLowerCase();
    let j = eq + 1;
    while (j < value.length && (value[j] === ' ' || value[j] === '\t')) j++;
    let v = '';
    if (value[j] === '"') {
      j++;
      while (j < value.length && value[j] !== '"') {
        if (value[j] === '\\' && j + 1 < value.length) j++;
        v += value[j];
        j++;
      }
      j = value.indexOf(';', j);
    } else {
      const end = value.indexOf(';', j);
      v = (end < 0 ? value.slice(j) : value.slice(j, end)).trim();
      j = end;
    }
    if (name) params[name] = v;
    i = j;
  }
  return { mediaType, params };
}

/** The boundary of a multipart Content-Type; throws naming the header when there is none. */
export function boundaryOf(contentType: string): string {
  const { mediaType, params } = parseContentType(contentType);
  if (!mediaType.startsWith('multipart/')) throw new Error(`expected a multipart response, got Content-Type "${contentType}"`);
  const boundary = params.boundary;
  if (!boundary) throw new Error(`multipart Content-Type without a boundary parameter: "${contentType}"`);
  if (boundary.length > 70) throw new Error(`multipart boundary longer than 70 characters (RFC 2046): "${boundary}"`);
  return boundary;
}

export type MultipartEvent =
  /** a part begins; header names lower-cased */
  | { type: 'headers'; headers: Record<string, string> }
  /** the next bytes of the current part's body (a view: consume before pulling the next event) */
  | { type: 'data'; data: Uint8Array }
  /** the current part ended */
  | { type: 'end' };

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Parses a multipart body from a chunk stream. Memory stays bounded by the largest chunk plus the
 * delimiter: body bytes are yielded as soon as they cannot be the start of a delimiter.
 */
export async function* parseMultipart(body: AsyncIterable<Uint8Array>, boundary: string, label = 'multipart body'): AsyncGenerator<MultipartEvent> {
  // A delimiter is CRLF "--" boundary; the first one may open the body without a CRLF, hence the
  // virtual CRLF in front (RFC 2046: the preamble before it is ignored).
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buffer: Buffer = Buffer.from(CRLF);
  let state: 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'epilogue' = 'preamble';
  let parts = 0;
  const iterator = body[Symbol.asyncIterator]();
  let done = false;

  const pull = async (): Promise<boolean> => {
    if (done) return false;
    const next = await iterator.next();
    if (next.done) {
      done = true;
      return false;
    }
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    return true;
  };

  try {
    for (;;) {
      if (state === 'preamble') {
        const at = buffer.indexOf(delimiter);
        if (at < 0) {
          // keep only what could still be the start of the delimiter
          if (buffer.length >= delimiter.length) buffer = buffer.subarray(buffer.length - delimiter.length + 1);
          if (!(await pull())) throw new Error(`${label}: no "--${boundary}" delimiter found`);
          continue;
        }
        buffer = buffer.subarray(at + delimiter.length);
        state = 'afterDelimiter';
      } else if (state === 'afterDelimiter') {
        // "--" closes the message; otherwise optional transport padding (LWSP) then CRLF
        if (buffer.length < 2) {
          if (!(await pull())) throw new Error(`${label}: ends right after a delimiter`);
          continue;
        }
        if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
          state = 'epilogue';
          continue;
        }
        const eol = buffer.indexOf(CRLF);
        if (eol < 0) {
          if (buffer.length > 1024) throw new Error(`${label}: garbage after a boundary delimiter`);
          if (!(await pull())) throw new Error(`${label}: ends inside a boundary line`);
          continue;
        }
        if (!/^[ \t]*$/.test(buffer.subarray(0, eol).toString('latin1'))) throw new Error(`${label}: unexpected text after a boundary delimiter`);
        buffer = buffer.subarray(eol + 2);
        state = 'headers';
      } else if (state === 'headers') {
        // a part with no headers starts with the empty line right away
        let end: number;
        let skip: number;
        if (buffer.length >= 2 && buffer[0] === 0x0d && buffer[1] === 0x0a) {
          end = 0;
          skip = 2;
        } else {
          end = buffer.indexOf(HEADER_END);
          skip = 4;
        }
        if (end < 0 || (end === 0 && skip === 4)) {
          if (buffer.length > MAX_HEADER_BYTES) throw new Error(`${label}: part headers longer than ${MAX_HEADER_BYTES} bytes`);
          if (!(await pull())) throw new Error(`${label}: ends inside the headers of part ${parts + 1}`);
          continue;
        }
        yield { type: 'headers', headers: parseHeaderBlock(buffer.subarray(0, end).toString('latin1')) };
        parts++;
        buffer = buffer.subarray(end + skip);
        state = 'body';
      } else if (state === 'body') {
        const at = buffer.indexOf(delimiter);
        if (at >= 0) {
          if (at > 0) yield { type: 'data', data: buffer.subarray(0, at) };
          yield { type: 'end' };
          buffer = buffer.subarray(at + delimiter.length);
          state = 'afterDelimiter';
          continue;
        }
        // everything except a possible delimiter prefix at the tail is body
        const safe = buffer.length - (delimiter.length - 1);
        if (safe > 0) {
          yield { type: 'data', data: buffer.subarray(0, safe) };
          buffer = buffer.subarray(safe);
        }
        if (!(await pull())) throw new Error(`${label}: ends inside part ${parts} (no closing "--${boundary}--")`);
      } else {
        // epilogue: ignored, but drain the stream so the connection can be reused
        while (await pull()) buffer = Buffer.alloc(0);
        return;
      }
    }
  } finally {
    if (!done) await iterator.return?.();
  }
}

function parseHeaderBlock(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  // unfold continuation lines (RFC 5322 §2.2.3)
  for (const line of text.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed part header line "${line.slice(0, 80)}"`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** A boundary that cannot occur in binary DICOM by chance (random, 32 hex digits). */
export function newBoundary(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return `nnseg-${Buffer.from(bytes).toString('hex')}`;
}

/** multipart/related body of the given parts (one Content-Type for all, as STOW-RS sends them). */
export function buildMultipart(parts: readonly Uint8Array[], boundary: string, partContentType: string): Uint8Array {
  const head = Buffer.from(`--${boundary}\r\nContent-Type: ${partContentType}\r\n\r\n`);
  const between = Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${partContentType}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const pieces: Uint8Array[] = [];
  parts.forEach((part, i) => {
    pieces.push(i === 0 ? head : between, part);
  });
  if (parts.length === 0) pieces.push(Buffer.from(`--${boundary}--\r\n`));
  else pieces.push(tail);
  return Buffer.concat(pieces);
}
