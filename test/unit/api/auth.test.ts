import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Authenticator, hostAllowed, isLoopback, originAllowed, roleAllows, tokenFromRequest } from '../../../server/src/api/auth.js';

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

  it('allows no origin, configured origins, "*", and on a loopback server its own loopback origins; never by Host', () => {
    const loopback = { port: 8000, loopbackOnly: true };
    const exposed = { port: 8000, loopbackOnly: false };
    expect(originAllowed(undefined, [], exposed)).toBe(true);
    expect(originAllowed('https://a.example', ['https://a.example'], exposed)).toBe(true);
    expect(originAllowed('https://b.example', ['https://a.example'], exposed)).toBe(false);
    expect(originAllowed('https://b.example', ['*'], exposed)).toBe(true);
    for (const own of ['http://127.0.0.1:8000', 'http://localhost:8000', 'http://[::1]:8000']) {
      expect(originAllowed(own, [], loopback)).toBe(true);
      // bound to all interfaces, the server cannot know its public name: origins must be configured
      expect(originAllowed(own, [], exposed)).toBe(false);
    }
    expect(originAllowed('http://127.0.0.1:8001', [], loopback)).toBe(false);
    // DNS rebinding: the attacker's page has Origin == Host == its own name
    expect(originAllowed('http://rebind.example:8000', [], loopback)).toBe(false);
    expect(originAllowed('null', [], loopback)).toBe(false);
  });

  it('on a loopback server answers only to Host headers naming this machine (DNS-rebinding guard)', () => {
    const loopback = { port: 8000, loopbackOnly: true };
    expect(hostAllowed('127.0.0.1:8000', loopback)).toBe(true);
    expect(hostAllowed('localhost:8000', loopback)).toBe(true);
    expect(hostAllowed('[::1]:8000', loopback)).toBe(true);
    expect(hostAllowed('rebind.example:8000', loopback)).toBe(false);
    expect(hostAllowed('127.0.0.1:9000', loopback)).toBe(false);
    expect(hostAllowed(undefined, loopback)).toBe(false);
    expect(hostAllowed('anything.example', { port: 8000, loopbackOnly: false })).toBe(true);
    expect(['127.0.0.1', '127.8.9.10', '::1', 'localhost'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '::', '10.0.0.1'].map(isLoopback)).toEqual([false, false, false]);
  });
});
