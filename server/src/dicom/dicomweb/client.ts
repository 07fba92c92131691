/**
 * DICOMweb client (PS3.18): QIDO-RS search with paging, WADO-RS retrieve (series streamed to a folder part
 * by part, transfer-syntax negotiation), STOW-RS store. Retries 5xx/429/network errors with exponential
 * backoff (never 4xx), per-request timeouts, auth headers from the options. Errors name URL and status.
 */
import { createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { buildMultipart, boundaryOf, newBoundary, parseContentType, parseMultipart } from './multipart.js';

/** Explicit VR Little Endian: every DICOMweb origin server must be able to send it (PS3.18 §8.7.3.5.2). */
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

export interface DicomWebClientOptions {
  /** service root, e.g. http://pacs:8042/dicom-web */
  baseUrl: string;
  /** sent with every request, e.g. from `authHeaders()` */
  headers?: Record<string, string>;
  /** per request: until the response headers arrive, and the longest pause between body chunks (default 30 s) */
  timeoutMs?: number;
  /** extra attempts after a 5xx/429/network failure (default 3) */
  retries?: number;
  /** first backoff delay; doubles per attempt (default 250 ms) */
  backoffMs?: number;
}

export type DicomJson = Record<string, { vr?: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;

export interface SearchOptions {
  /** results per request (limit/offset paging); 0 = one request without limit (default 500) */
  pageSize?: number;
  /** stop after this many results */
  maxResults?: number;
  signal?: AbortSignal;
}

export class DicomWebError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DicomWebError';
  }
}

/** Authorization header for a bearer token or HTTP Basic credentials. */
export function authHeaders(auth: { token: string } | { username: string; password: string }): Record<string, string> {
  if ('token' in auth) return { authorization: `Bearer ${auth.token}` };
  return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

/** First value of a tag in a DICOM JSON object (PS3.18 F.2), as a string; PN gives its Alphabetic form. */
export function jsonValue(item: Record<string, unknown>, tag: string): string | undefined {
  const element = item[tag] as { Value?: unknown[] } | undefined;
  const v = element?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object' && 'Alphabetic' in (v as object)) return String((v as { Alphabetic: unknown }).Alphabetic);
  return String(v);
}

const RETRYABLE = (status: number) => status >= 500 || status === 429;
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

interface RequestInit2 {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
  /** statuses handed back to the caller instead of thrown (e.g. 406 for negotiation fallback) */
  accept?: number[];
}

/** An open response plus the timer that aborts it when the body stalls. */
interface OpenResponse {
  response: Response;
  url: string;
  /** call after each body chunk: restarts the idle timer */
  touch(): void;
  /** stop the idle timer (body consumed or abandoned) */
  release(): void;
}

export class DicomWebClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  constructor(o: DicomWebClientOptions) {
    if (!/^https?:\/\//.test(o.baseUrl)) throw new Error(`DICOMweb baseUrl must be an http(s) URL, got "${o.baseUrl}"`);
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.headers = { ...(o.headers ?? {}) };
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.retries = o.retries ?? 3;
    this.backoffMs = o.backoffMs ?? 250;
  }

  // ---------- QIDO-RS ----------

  searchForStudies(query?: Record<string, string>, options?: SearchOptions): Promise<DicomJson[]> {
    return this.search('/studies', query, options);
  }

  /** Series of all studies, or of one study when `options.study` is given. */
  searchForSeries(query?: Record<string, string>, options?: SearchOptions & { study?: string }): Promise<DicomJson[]> {
    const path = options?.study ? `/studies/${enc(options.study)}/series` : '/series';
    return this.search(path, query, options);
  }

  searchForInstances(query?: Record<string, string>, options?: SearchOptions & { study?: string; series?: string }): Promise<DicomJson[]> {
    let path = '/instances';
    if (options?.study && options.series) path = `/studies/${enc(options.study)}/series/${enc(options.series)}/instances`;
    else if (options?.study) path = `/studies/${enc(options.study)}/instances`;
    return this.search(path, query, options);
  }

  private async search(path: string, query: Record<string, string> = {}, options: SearchOptions = {}): Promise<DicomJson[]> {
    const pageSize = options.pageSize ?? 500;
    const max = options.maxResults ?? Infinity;
    const results: DicomJson[] = [];
    let firstOfPrevious: string | undefined;
    for (let offset = 0; ; ) {
      const params = new URLSearchParams(query);
      if (pageSize > 0) {
        params.set('limit', String(Math.min(pageSize, max - results.length)));
        params.set('offset', String(offset));
      }
      const qs = params.toString();
      const open = await this.request(`${path}${qs ? `?${qs}` : ''}`, { headers: { accept: 'application/dicom+json' }, signal: options.signal });
      let page: DicomJson[];
      try {
        if (open.response.status === 204) page = [];
        else {
          const text = await open.response.text();
          const parsed: unknown = text.trim() ? JSON.parse(text) : [];
          if (!Array.isArray(parsed)) throw new DicomWebError(`QIDO-RS ${open.url}: expected a JSON array, got ${typeof parsed}`, open.url, open.response.status);
          page = parsed as DicomJson[];
        }
      } catch (err) {
        if (err instanceof DicomWebError) throw err;
        throw new DicomWebError(`QIDO-RS ${open.url}: unreadable response (${(err as Error).message})`, open.url, open.response.status);
      } finally {
        open.release();
      }
      // a server that ignores offset sends the first page again: stop instead of looping
      if (offset > 0 && page.length > 0 && JSON.stringify(page[0]) === firstOfPrevious) break;
      firstOfPrevious = page.length > 0 ? JSON.stringify(page[0]) : undefined;
      results.push(...page);
      // a server that ignores limit returns everything at once; a short page is the last one
      if (pageSize <= 0 || page.length !== pageSize || results.length >= max) break;
      offset += page.length;
    }
    return results.length > max ? results.slice(0, max) : results;
  }

  // ---------- WADO-RS ----------

  /** Instance-level metadata of a series as DICOM JSON (bulk data left out by the server). */
  async retrieveSeriesMetadata(study: string, series: string, o: { signal?: AbortSignal } = {}): Promise<DicomJson[]> {
    const open = await this.request(`/studies/${enc(study)}/series/${enc(series)}/metadata`, { headers: { accept: 'application/dicom+json' }, signal: o.signal });
    try {
      const parsed: unknown = JSON.parse(await open.response.text());
      if (!Array.isArray(parsed)) throw new DicomWebError(`WADO-RS ${open.url}: expected a JSON array`, open.url, open.response.status);
      return parsed as DicomJson[];
    } catch (err) {
      throw wrapNetwork(err, open.url, 'WADO-RS metadata');
    } finally {
      open.release();
    }
  }

  /**
   * Streams every instance of a series into `folder` (instance-00001.dcm, …), each written as its part
   * arrives. Asks for the stored transfer syntax (`transfer-syntax=*`), falling back to Explicit VR Little
   * Endian and then to no parameter when the server refuses (400/406/415). A failed attempt is retried
   * from the start (files from it are overwritten; leftovers removed).
   */
  async retrieveSeriesToFolder(
    study: string,
    series: string,
    folder: string,
    o: { signal?: AbortSignal; onInstance?: (n: number) => void } = {},
  ): Promise<{ files: string[] }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.retrieveSeriesOnce(study, series, folder, o);
      } catch (err) {
        // a connection that drops mid-body: start over (HTTP errors were already retried per request)
        const retryable = !(err instanceof DicomWebError && err.status !== undefined) && !o.signal?.aborted;
        if (!retryable || attempt >= this.retries) throw err;
        await sleep(this.backoffMs * 2 ** attempt, o.signal);
      }
    }
  }

  private async retrieveSeriesOnce(study: string, series: string, folder: string, o: { signal?: AbortSignal; onInstance?: (n: number) => void }): Promise<{ files: string[] }> {
    mkdirSync(folder, { recursive: true });
    const path = `/studies/${enc(study)}/series/${enc(series)}`;
    const open = await this.negotiate(path, o.signal);
    const files: string[] = [];
    try {
      const boundary = boundaryOf(open.response.headers.get('content-type') ?? '');
      if (!open.response.body) throw new DicomWebError(`WADO-RS ${open.url}: response has no body`, open.url, open.response.status);
      const body = touching(open.response.body, open.touch);
      let stream: ReturnType<typeof createWriteStream> | undefined;
      for await (const event of parseMultipart(body, boundary, `WADO-RS ${open.url}`)) {
        if (event.type === 'headers') {
          const type = parseContentType(event.headers['content-type'] ?? 'application/dicom').mediaType;
          if (type !== 'application/dicom') throw new DicomWebError(`WADO-RS ${open.url}: part ${files.length + 1} is "${type}", expected application/dicom`, open.url);
          const file = join(folder, `instance-${String(files.length + 1).padStart(5, '0')}.dcm`);
          files.push(file);
          stream = createWriteStream(file);
        } else if (event.type === 'data') {
          // backpressure: wait for the disk before pulling more from the network
          if (!stream!.write(Buffer.from(event.data))) await new Promise<void>((r) => stream!.once('drain', r));
        } else {
          stream!.end();
          await finished(stream!);
          stream = undefined;
          o.onInstance?.(files.length);
        }
      }
      if (stream) stream.destroy();
    } catch (err) {
      throw wrapNetwork(err, open.url, 'WADO-RS');
    } finally {
      open.release();
    }
    // remove files of an earlier, longer attempt into the same folder
    const keep = new Set(files.map((f) => f.slice(folder.length + 1)));
    for (const name of readdirSync(folder)) if (/^instance-\d{5}\.dcm$/.test(name) && !keep.has(name)) rmSync(join(folder, name), { force: true });
    if (files.length === 0) throw new DicomWebError(`WADO-RS ${open.url}: the series has no instances`, open.url, open.response.status);
    return { files };
  }

  /** One instance as Part 10 bytes (first part of the multipart answer). */
  async retrieveInstance(study: string, series: string, instance: string, o: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const open = await this.negotiate(`/studies/${enc(study)}/series/${enc(series)}/instances/${enc(instance)}`, o.signal);
    try {
      const boundary = boundaryOf(open.response.headers.get('content-type') ?? '');
      if (!open.response.body) throw new DicomWebError(`WADO-RS ${open.url}: response has no body`, open.url);
      const chunks: Buffer[] = [];
      let parts = 0;
      for await (const event of parseMultipart(touching(open.response.body, open.touch), boundary, `WADO-RS ${open.url}`)) {
        if (event.type === 'headers') parts++;
        else if (event.type === 'data' && parts === 1) chunks.push(Buffer.from(event.data));
      }
      if (parts === 0) throw new DicomWebError(`WADO-RS ${open.url}: empty multipart response`, open.url);
      return new Uint8Array(Buffer.concat(chunks));
    } catch (err) {
      throw wrapNetwork(err, open.url, 'WADO-RS');
    } finally {
      open.release();
    }
  }

  private async negotiate(path: string, signal?: AbortSignal): Promise<OpenResponse> {
    const accepts = [
      'multipart/related; type="application/dicom"; transfer-syntax=*',
      `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`,
      'multipart/related; type="application/dicom"',
    ];
    for (let i = 0; ; i++) {
      const last = i === accepts.length - 1;
      const open = await this.request(path, { headers: { accept: accepts[i]! }, signal, accept: last ? [] : [400, 406, 415] });
      if (open.response.ok) return open;
      await open.response.arrayBuffer().catch(() => undefined);
      open.release();
    }
  }

  // ---------- STOW-RS ----------

  /** Stores Part 10 instances in one multipart request; the answer's ReferencedSOPSequence/FailedSOPSequence split them. */
  async storeInstances(instances: Uint8Array[], o: { study?: string; signal?: AbortSignal } = {}): Promise<{ stored: string[]; failed: { sopInstanceUID: string; reason: string }[] }> {
    if (instances.length === 0) return { stored: [], failed: [] };
    const boundary = newBoundary();
    const body = buildMultipart(instances, boundary, 'application/dicom');
    const path = o.study ? `/studies/${enc(o.study)}` : '/studies';
    // 409: every instance failed, 202: some did; both carry the per-instance answer (PS3.18 §10.5.3)
    const open = await this.request(path, {
      method: 'POST',
      headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' },
      body,
      signal: o.signal,
      accept: [409],
    });
    try {
      const text = await open.response.text();
      const type = parseContentType(open.response.headers.get('content-type') ?? '').mediaType;
      const result = type.includes('xml') || text.trimStart().startsWith('<') ? parseStowXml(text) : parseStowJson(text, open.url);
      if (open.response.status === 409 && result.failed.length === 0)
        throw new DicomWebError(`STOW-RS ${open.url}: HTTP 409 ${text.slice(0, 300)}`, open.url, 409);
      return result;
    } finally {
      open.release();
    }
  }

  // ---------- transport ----------

  /** fetch with auth headers, a timeout on the response headers, an idle timer for the body, and retries. */
  private async request(path: string, init: RequestInit2): Promise<OpenResponse> {
    const url = `${this.baseUrl}${path}`;
    const method = init.method ?? 'GET';
    for (let attempt = 0; ; attempt++) {
      const controller = new AbortController();
      const onOuterAbort = () => controller.abort(init.signal!.reason);
      if (init.signal?.aborted) throw init.signal.reason as Error;
      init.signal?.addEventListener('abort', onOuterAbort, { once: true });
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort(new DicomWebError(`${method} ${url}: no answer within ${this.timeoutMs} ms`, url));
        }, this.timeoutMs);
      };
      const release = () => {
        clearTimeout(timer);
        init.signal?.removeEventListener('abort', onOuterAbort);
      };
      arm();
      let failure: DicomWebError;
      try {
        const response = await fetch(url, {
          method,
          headers: { ...this.headers, ...init.headers },
          body: init.body,
          signal: controller.signal,
        });
        if (response.ok || init.accept?.includes(response.status)) return { response, url, touch: arm, release };
        const detail = (await response.text().catch(() => '')).slice(0, 300).trim();
        release();
        failure = new DicomWebError(`${method} ${url}: HTTP ${response.status} ${response.statusText}${detail ? ` — ${detail}` : ''}`, url, response.status);
        if (!RETRYABLE(response.status)) throw failure;
      } catch (err) {
        release();
        if (init.signal?.aborted) throw init.signal.reason as Error;
        if (err instanceof DicomWebError && err.status !== undefined && !RETRYABLE(err.status)) throw err;
        failure = err instanceof DicomWebError ? err : new DicomWebError(`${method} ${url}: ${timedOut ? `no answer within ${this.timeoutMs} ms` : networkMessage(err)}`, url);
      }
      if (attempt >= this.retries) {
        failure.message += ` (after ${attempt + 1} attempts)`;
        throw failure;
      }
      await sleep(this.backoffMs * 2 ** attempt, init.signal);
    }
  }
}

const enc = (uid: string) => {
  if (!/^[0-9.]+$/.test(uid)) throw new Error(`not a DICOM UID: "${uid}"`);
  return uid;
};

function networkMessage(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.cause.code ?? e.cause.name}: ${e.cause.message}` : e.message;
}

function wrapNetwork(err: unknown, url: string, what: string): Error {
  if (err instanceof DicomWebError) return err;
  if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') return err as Error;
  return new DicomWebError(`${what} ${url}: ${networkMessage(err)}`, url);
}

/** Restarts the idle timer on every chunk of a web stream. */
async function* touching(body: ReadableStream<Uint8Array>, touch: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    touch();
    yield chunk;
  }
}

const REFERENCED_SOP_SEQUENCE = '00081199';
const FAILED_SOP_SEQUENCE = '00081198';
const REFERENCED_SOP_INSTANCE_UID = '00081155';
const FAILURE_REASON = '00081197';

function parseStowJson(text: string, url: string): { stored: string[]; failed: { sopInstanceUID: string; reason: string }[] } {
  let parsed: unknown;
  try {
    parsed = text.trim() ? JSON.parse(text) : {};
  } catch (err) {
    throw new DicomWebError(`STOW-RS ${url}: unreadable JSON answer (${(err as Error).message})`, url);
  }
  const root = (Array.isArray(parsed) ? parsed[0] : parsed) as Record<string, { Value?: Record<string, unknown>[] }> | undefined;
  const items = (tag: string) => root?.[tag]?.Value ?? [];
  return {
    stored: items(REFERENCED_SOP_SEQUENCE).map((i) => jsonValue(i, REFERENCED_SOP_INSTANCE_UID) ?? ''),
    failed: items(FAILED_SOP_SEQUENCE).map((i) => ({
      sopInstanceUID: jsonValue(i, REFERENCED_SOP_INSTANCE_UID) ?? '',
      reason: failureReason(jsonValue(i, FAILURE_REASON)),
    })),
  };
}

/** The XML answer (PS3.19 Native DICOM Model): same sequences, found by tag. */
function parseStowXml(text: string): { stored: string[]; failed: { sopInstanceUID: string; reason: string }[] } {
  const sequence = (tag: string): string[] => {
    const m = new RegExp(`<DicomAttribute[^>]*tag="${tag}"[^>]*>([\\s\\S]*?)</DicomAttribute>\\s*</?(?:NativeDicomModel|DicomAttribute[^>]*tag="(?!${tag}))`, 'i').exec(text);
    if (!m) return [];
    return [...m[1]!.matchAll(/<Item[^>]*>([\s\S]*?)<\/Item>/gi)].map((x) => x[1]!);
  };
  const value = (item: string, tag: string) => new RegExp(`tag="${tag}"[^>]*>\\s*<Value[^>]*>([^<]*)</Value>`, 'i').exec(item)?.[1]?.trim();
  return {
    stored: sequence(REFERENCED_SOP_SEQUENCE).map((i) => value(i, REFERENCED_SOP_INSTANCE_UID) ?? ''),
    failed: sequence(FAILED_SOP_SEQUENCE).map((i) => ({ sopInstanceUID: value(i, REFERENCED_SOP_INSTANCE_UID) ?? '', reason: failureReason(value(i, FAILURE_REASON)) })),
  };
}

// PS3.18 Table 10.5.3-2 / PS3.4 Annex B failure codes
function failureReason(code: string | undefined): string {
  if (code === undefined) return 'unknown';
  const n = Number(code);
  const known: Record<number, string> = {
    0x0110: 'processing failure',
    0x0122: 'SOP class not supported',
    0x0124: 'not authorized',
    0xa700: 'out of resources',
    0xa900: 'data set does not match SOP class',
    0xc000: 'cannot understand',
    0xc122: 'referenced transfer syntax not supported',
  };
  return known[n] ? `${known[n]} (0x${n.toString(16).toUpperCase().padStart(4, '0')})` : `failure reason ${code}`;
}
