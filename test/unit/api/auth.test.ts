import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Authenticator, originAllowed, roleAllows, tokenFromRequest } from '../../../server/src/api/auth.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('auth', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const auth = new Authenticator(
    [
      { token: 'viewer-token-0123456789', subject: 'v', role: 'viewer' },
      { sha256: createHash('sha256').update('hashed-admin-token-0123').digest('hex'), subject: 'a', role: 'admin' },
      { token: 'soon-expired-token-0123', subject: 'e', role: 'annotator', expiresAt: '2026-01-01T00:00:00Z' },
      { token: 'later-expiring-token-01', subject: 'l', role: 'annotator', expiresAt: '2026-01-01T00:00:01+00:00' },
    ],
    null,
    () => now,
  );

  it('accepts plain and sha256 tokens with their role', () => {
    expect(auth.authenticate('viewer-token-0123456789')).toEqual({ ok: true, principal: { subject: 'v', role: 'viewer' } });
    expect(auth.authenticate('hashed-admin-token-0123')).toEqual({ ok: true, principal: { subject: 'a', role: 'admin' } });
    expect(auth.authenticate('later-expiring-token-01')).toMatchObject({ ok: true, principal: { subject: 'l', expiresAt: now + 1000 } });
  });

  it('refuses unknown, missing and expired (at the instant) tokens', () => {
    expect(auth.authenticate('nope')).toMatchObject({ ok: false, code: 'UNAUTHORIZED', message: 'unknown token' });
    expect(auth.authenticate(undefined)).toMatchObject({ ok: false, code: 'UNAUTHORIZED', message: 'a bearer token is required' });
    expect(auth.authenticate('soon-expired-token-0123')).toMatchObject({ ok: false, code: 'TOKEN_EXPIRED', message: expect.stringContaining('"e"') });
  });

  it('gives the anonymous role when configured', () => {
    expect(new Authenticator([], 'viewer').authenticate(undefined)).toEqual({ ok: true, principal: { subject: 'anonymous', role: 'viewer' } });
  });

  it('orders roles viewer < annotator < admin', () => {
    expect(roleAllows('admin', 'viewer')).toBe(true);
    expect(roleAllows('annotator', 'viewer')).toBe(true);
    expect(roleAllows('annotator', 'admin')).toBe(false);
    expect(roleAllows('viewer', 'annotator')).toBe(false);
  });

  it('takes the token from Authorization or the sub-protocol list', () => {
    expect(tokenFromRequest(req({ authorization: 'Bearer abc' }))).toBe('abc');
    expect(tokenFromRequest(req({ authorization: 'bearer   abc  ' }))).toBe('abc');
    expect(tokenFromRequest(req({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(tokenFromRequest(req({ 'sec-websocket-protocol': 'nnseg.v1, nnseg.token.xyz' }))).toBe('xyz');
    expect(tokenFromRequest(req({}))).toBeUndefined();
  });

  it('allows no origin, listed origins, "*", and the server’s own origin', () => {
    expect(originAllowed(undefined, 'h:1', [])).toBe(true);
    expect(originAllowed('https://a.example', 'h:1', ['https://a.example'])).toBe(true);
    expect(originAllowed('https://b.example', 'h:1', ['https://a.example'])).toBe(false);
    expect(originAllowed('https://b.example', 'h:1', ['*'])).toBe(true);
    expect(originAllowed('http://127.0.0.1:8000', '127.0.0.1:8000', [])).toBe(true);
    expect(originAllowed('http://127.0.0.1:8001', '127.0.0.1:8000', [])).toBe(false);
    expect(originAllowed('null', 'h:1', [])).toBe(false);
  });
});
