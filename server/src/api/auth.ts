/** Bearer tokens with roles and expiry, and the browser-origin allow-list. Pure: no I/O. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WS_TOKEN_SUBPROTOCOL_PREFIX, type ErrorCode, type Role } from '../contract/protocol.js';
import type { TokenConfig } from '../config/server-config.js';

export interface Principal {
  subject: string;
  role: Role;
  /** ms since the epoch; the token is refused from then on */
  expiresAt?: number;
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; code: Extract<ErrorCode, 'UNAUTHORIZED' | 'TOKEN_EXPIRED'>; message: string };

const RANK: Record<Role, number> = { viewer: 0, annotator: 1, admin: 2 };

/** True when `role` may do what `needed` may do (viewer < annotator < admin). */
export function roleAllows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class Authenticator {
  private readonly entries: { hash: Buffer; subject: string; role: Role; expiresAt?: number }[];

  constructor(
    tokens: TokenConfig[],
    private readonly anonymousRole: Role | null,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = tokens.map((t) => ({
      hash: t.sha256 ? Buffer.from(t.sha256, 'hex') : sha256(t.token!),
      subject: t.subject,
      role: t.role,
      expiresAt: t.expiresAt ? Date.parse(t.expiresAt) : undefined,
    }));
  }

  /** Checks a bearer token (undefined: none presented). Compares hashes in constant time. */
  authenticate(token: string | undefined): AuthResult {
    if (token === undefined || token === '') {
      if (this.anonymousRole) return { ok: true, principal: { subject: 'anonymous', role: this.anonymousRole } };
      return { ok: false, code: 'UNAUTHORIZED', message: 'a bearer token is required' };
    }
    const h = sha256(token);
    for (const e of this.entries) {
      if (!timingSafeEqual(h, e.hash)) continue;
      if (e.expiresAt !== undefined && this.now() >= e.expiresAt)
        return { ok: false, code: 'TOKEN_EXPIRED', message: `the token of "${e.subject}" expired at ${new Date(e.expiresAt).toISOString()}` };
      return { ok: true, principal: { subject: e.subject, role: e.role, ...(e.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}) } };
    }
    return { ok: false, code: 'UNAUTHORIZED', message: 'unknown token' };
  }
}

/** `Authorization: Bearer …`, else a `nnseg.token.<token>` WebSocket sub-protocol entry. */
export function tokenFromRequest(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const proto = req.headers['sec-websocket-protocol'];
  if (typeof proto === 'string')
    for (const p of proto.split(',').map((s) => s.trim())) if (p.startsWith(WS_TOKEN_SUBPROTOCOL_PREFIX)) return p.slice(WS_TOKEN_SUBPROTOCOL_PREFIX.length);
  return undefined;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** True for an address or name that only this machine reaches. */
export function isLoopback(address: string): boolean {
  return ['localhost', '::1', '[::1]'].includes(address) || /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::ffff:127.0.0.1';
}

/**
 * Who the server is, for the browser checks: the port it listens on and whether that is loopback only.
 * Both come from the listening socket, never from the request (a request's Host is the client's word).
 */
export interface ServerIdentity {
  port: number;
  loopbackOnly: boolean;
}

/**
 * A browser origin is allowed when it is configured (`origins`, "*" for any), or, on a loopback-only server,
 * when it is this server's own loopback origin (the viewer it serves at http://localhost:<port>). Never by
 * comparing with the request's Host: under DNS rebinding an attacker's page has Origin == Host.
 * Requests without an Origin (scripts, curl) are allowed here; the token decides.
 */
export function originAllowed(origin: string | undefined, allowList: readonly string[], self: ServerIdentity | undefined): boolean {
  if (origin === undefined) return true;
  if (allowList.includes('*') || allowList.includes(origin)) return true;
  if (!self?.loopbackOnly) return false;
  return LOOPBACK_NAMES.some((h) => origin === `http://${h}:${self.port}`);
}

/**
 * On a loopback-only server the Host header must name this machine: a page on another site that rebinds
 * its DNS name to 127.0.0.1 sends its own name as Host and is refused (the DNS-rebinding guard).
 */
export function hostAllowed(host: string | undefined, self: ServerIdentity | undefined): boolean {
  if (!self?.loopbackOnly) return true;
  if (host === undefined) return false;
  return LOOPBACK_NAMES.some((h) => host === `${h}:${self.port}` || (self.port === 80 && host === h));
}
