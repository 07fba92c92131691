import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadServerConfig, parseTokensEnv, resolveServerConfig } from '../../../server/src/config/server-config.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('server config', () => {
  it('applies defaults to a minimal config', () => {
    const c = resolveServerConfig({ formatVersion: 1 }, { NNSEG_MODEL_STORE: '/srv/models', NNSEG_WORK_DIR: '/srv/work' });
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8000, store: '/srv/models', workDir: '/srv/work', tokens: [], anonymousRole: null, origins: [] });
    expect(c.limits).toMatchObject({ maxMessageBytes: 1 << 20, maxChunkBytes: 1 << 20, maxInstances: 5000, maxJobsPerSession: 4, uploadWindowBytes: 8 << 20 });
    expect(c.queue).toEqual({ concurrency: 1 });
  });

  it('lets the environment override the file', () => {
    const c = resolveServerConfig(
      { formatVersion: 1, port: 9000, origins: ['https://a.example'], tokens: [{ token: 'file-token-0123456789', subject: 'f', role: 'viewer' }] },
      {
        NNSEG_PORT: '8123',
        NNSEG_HOST: '0.0.0.0',
        NNSEG_ORIGINS: 'https://b.example, https://c.example',
        NNSEG_REDIS_URL: 'redis://127.0.0.1:6390',
        NNSEG_PACS_URL: 'http://127.0.0.1:8042/dicom-web',
        NNSEG_TOKENS: 'env-token-0123456789ab:admin:ops:2030-01-01T00:00:00Z',
      },
    );
    expect(c.port).toBe(8123);
    expect(c.host).toBe('0.0.0.0');
    expect(c.origins).toEqual(['https://b.example', 'https://c.example']);
    expect(c.queue.redisUrl).toBe('redis://127.0.0.1:6390');
    expect(c.pacs?.url).toBe('http://127.0.0.1:8042/dicom-web');
    expect(c.tokens.map((t) => [t.subject, t.role, t.expiresAt])).toEqual([
      ['f', 'viewer', undefined],
      ['ops', 'admin', '2030-01-01T00:00:00Z'],
    ]);
  });

  it.each([
    [{ formatVersion: 2 }, /formatVersion/],
    [{ formatVersion: 1, port: 70000 }, /port/],
    [{ formatVersion: 1, tokens: [{ token: 'short', subject: 's', role: 'viewer' }] }, /at least 16 characters/],
    [{ formatVersion: 1, tokens: [{ token: 'long-enough-token-123', subject: 's', role: 'root' }] }, /role/],
    [{ formatVersion: 1, tokens: [{ subject: 's', role: 'viewer' }] }, /exactly one of token or sha256/],
    [{ formatVersion: 1, limits: { maxChunkBytes: 10 } }, /maxChunkBytes/],
    [{ formatVersion: 1, unknownKey: true }, /unknownKey/],
  ])('refuses %j', (raw, msg) => {
    expect(() => resolveServerConfig(raw, {}, 'nnseg.config.json')).toThrow(msg);
  });

  it('names the bad env variable', () => {
    expect(() => resolveServerConfig(undefined, { NNSEG_PORT: 'eighty' })).toThrow(/NNSEG_PORT="eighty" is not an integer/);
    expect(() => parseTokensEnv('abc')).toThrow(/NNSEG_TOKENS entry 1: expected token:role:subject/);
    expect(() => parseTokensEnv('a-valid-token-0123456:viewer:x,short:viewer:y')).toThrow(/NNSEG_TOKENS entry 2: token: tokens must have at least 16/);
  });

  it('reads a config file and reports a missing or broken one by path', () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const file = join(dir, 'nnseg.config.json');
      writeFileSync(file, JSON.stringify({ formatVersion: 1, port: 8111, store: join(dir, 'm') }));
      expect(loadServerConfig(file, {})).toMatchObject({ port: 8111, store: join(dir, 'm') });
      writeFileSync(file, '{ nope');
      expect(() => loadServerConfig(file, {})).toThrow(new RegExp(`${file}: not valid JSON`));
      expect(() => loadServerConfig(join(dir, 'absent.json'), {})).toThrow(/absent\.json: config file not found/);
    } finally {
      cleanup();
    }
  });
});
