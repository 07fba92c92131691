/**
 * Server configuration (`nnseg.config.json`, versioned) with environment overrides. Pure: reading the
 * file is `loadServerConfig`; `resolveServerConfig` merges a parsed object with env and applies defaults.
 */
import type { JobLimits } from '../jobs/types.js';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { RoleSchema, type Limits } from '../contract/protocol.js';
import { modelStoreRoot } from '../models/store-location.js';

export const SERVER_CONFIG_FORMAT_VERSION = 1;

export const TokenConfigSchema = z.strictObject({
  /** the bearer token itself (≥ 16 characters) … */
  token: z.string().min(16, 'tokens must have at least 16 characters').optional(),
  /** … or its sha256 in hex, so the config file need not hold the secret */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** who this token is, shown in logs and job lists (never patient data) */
  subject: z.string().min(1).max(64),
  role: RoleSchema,
  /** ISO 8601; the token is refused after this instant */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
}).refine((t) => (t.token === undefined) !== (t.sha256 === undefined), { message: 'give exactly one of token or sha256' });
export type TokenConfig = z.infer<typeof TokenConfigSchema>;

export const LimitsConfigSchema = z.strictObject({
  maxMessageBytes: z.number().int().min(1024).default(1 << 20),
  maxChunkBytes: z.number().int().min(1024).default(1 << 20),
  maxSeriesBytes: z.number().int().positive().default(2 * 1024 ** 3),
  maxInstances: z.number().int().positive().default(5000),
  maxJobsPerSession: z.number().int().positive().default(4),
  uploadWindowBytes: z.number().int().min(1024).default(8 << 20),
  idleTimeoutSeconds: z.number().positive().default(120),
  uploadResumeSeconds: z.number().positive().default(600),
  /** largest model zip accepted by POST /api/models/import */
  maxImportBytes: z.number().int().positive().default(4 * 1024 ** 3),
  // --- server-side only (not sent in welcome): what one user, and everyone together, may hold at once ---
  /** unfinished uploads per token subject, and on the whole server */
  maxUploadsPerSubject: z.number().int().positive().default(8),
  maxUploads: z.number().int().positive().default(64),
  /** bytes of unfinished uploads on the whole server (spool disk) */
  maxUploadBytes: z.number().int().positive().default(16 * 1024 ** 3),
  /** queued + running segment jobs per token subject, and on the whole server */
  maxJobsPerSubject: z.number().int().positive().default(16),
  maxJobs: z.number().int().positive().default(256),
  /** a socket whose unsent output exceeds this is closed (a client that does not read) */
  maxSendBacklogBytes: z.number().int().min(1 << 20).default(64 << 20),
  /** one job's work, checked before prediction starts: network calls (tiles × mirrors × folds) … */
  maxNetworkCallsPerJob: z.number().int().positive().default(100_000),
  /** … voxels of the image on the model's grid, and decoded pixel bytes of the series */
  maxJobVoxels: z.number().int().positive().default(2 ** 30),
  maxDecodedSeriesBytes: z.number().int().positive().default(8 * 1024 ** 3),
});

export const ServerConfigSchema = z.strictObject({
  formatVersion: z.literal(SERVER_CONFIG_FORMAT_VERSION),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8000),
  /** model store root (default: NNSEG_MODEL_STORE, else ~/.nnseg/models) */
  store: z.string().optional(),
  /** upload spools and import staging (default: <os tmp>/nnseg-server) */
  workDir: z.string().optional(),
  tokens: z.array(TokenConfigSchema).default([]),
  /** role given to a client that presents no token; null = a token is required */
  anonymousRole: RoleSchema.nullable().default(null),
  /** browser origins allowed to call the HTTP API and open the WebSocket ("*" allows any) */
  origins: z.array(z.string()).default([]),
  limits: LimitsConfigSchema.default(LimitsConfigSchema.parse({})),
  queue: z
    .strictObject({
      /** jobs running at once in this process */
      concurrency: z.number().int().positive().default(1),
      /** switches to the BullMQ queue on this Redis */
      redisUrl: z.string().optional(),
      /** job journal for the in-process queue (default <workDir>/jobs.jsonl) */
      journal: z.string().optional(),
    })
    .default({ concurrency: 1 }),
  pacs: z.strictObject({ url: z.string().url(), headers: z.record(z.string(), z.string()).optional() }).optional(),
  /** keep received series after the job (for training) in this folder; default: deleted */
  retainSeriesIn: z.string().optional(),
  viewer: z.strictObject({ root: z.string().optional(), enabled: z.boolean().default(true) }).default({ enabled: true }),
  /** train jobs (admin): `datasetsRoot` holds the nnU-Net raw datasets a job may name (default: env nnUNet_raw) */
  training: z.strictObject({ enabled: z.boolean().default(true), datasetsRoot: z.string().optional() }).default({ enabled: true }),
});
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;

export interface ServerConfig extends Omit<z.output<typeof ServerConfigSchema>, 'store' | 'workDir'> {
  store: string;
  workDir: string;
}

export type LimitsConfig = z.output<typeof LimitsConfigSchema>;

/** What one segment job may cost (checked by the job runner before prediction). */
export function jobLimits(l: LimitsConfig): JobLimits {
  return { maxNetworkCalls: l.maxNetworkCallsPerJob, maxVoxels: l.maxJobVoxels, maxDecodedBytes: l.maxDecodedSeriesBytes };
}

/** The limits a client is told about in `welcome`. */
export function clientLimits(l: LimitsConfig): Limits {
  return {
    maxMessageBytes: l.maxMessageBytes,
    maxChunkBytes: l.maxChunkBytes,
    maxSeriesBytes: l.maxSeriesBytes,
    maxInstances: l.maxInstances,
    maxJobsPerSession: l.maxJobsPerSession,
    uploadWindowBytes: l.uploadWindowBytes,
    idleTimeoutSeconds: l.idleTimeoutSeconds,
    uploadResumeSeconds: l.uploadResumeSeconds,
  };
}

/**
 * NNSEG_TOKENS: comma-separated `token:role:subject[:expiresAt]` (expiresAt ISO 8601 without colons in the
 * time is awkward, so everything after the third colon is taken as the timestamp).
 */
export function parseTokensEnv(value: string): TokenConfig[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const parts = entry.split(':');
      if (parts.length < 3) throw new Error(`NNSEG_TOKENS entry ${i + 1}: expected token:role:subject[:expiresAt]`);
      const [token, role, subject, ...rest] = parts;
      const t = { token, role, subject, ...(rest.length ? { expiresAt: rest.join(':') } : {}) };
      const r = TokenConfigSchema.safeParse(t);
      if (!r.success) throw new Error(`NNSEG_TOKENS entry ${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.') || '(root)'}: ${x.message}`).join('; ')}`);
      return r.data;
    });
}

function intEnv(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const v = env[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${key}="${v}" is not an integer`);
  return n;
}

/** Applies env overrides (NNSEG_HOST, NNSEG_PORT, NNSEG_TOKENS, NNSEG_ORIGINS, NNSEG_REDIS_URL, NNSEG_PACS_URL, NNSEG_MODEL_STORE, NNSEG_WORK_DIR) and defaults. */
export function resolveServerConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, where = 'server config'): ServerConfig {
  const base = (raw ?? { formatVersion: SERVER_CONFIG_FORMAT_VERSION }) as Record<string, unknown>;
  const r = ServerConfigSchema.safeParse(base);
  if (!r.success) throw new Error(`${where}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const c = r.data;
  if (env.NNSEG_HOST) c.host = env.NNSEG_HOST;
  const port = intEnv(env, 'NNSEG_PORT');
  if (port !== undefined) {
    if (port < 0 || port > 65535) throw new Error(`NNSEG_PORT=${port} is not a port`);
    c.port = port;
  }
  if (env.NNSEG_TOKENS) c.tokens = [...c.tokens, ...parseTokensEnv(env.NNSEG_TOKENS)];
  if (env.NNSEG_ORIGINS) c.origins = env.NNSEG_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.NNSEG_REDIS_URL) c.queue = { ...c.queue, redisUrl: env.NNSEG_REDIS_URL };
  if (env.NNSEG_PACS_URL) c.pacs = { ...(c.pacs ?? {}), url: env.NNSEG_PACS_URL };
  const store = c.store !== undefined ? resolve(c.store) : modelStoreRoot(undefined, env);
  // an empty value would resolve to the current directory: the server would spool patient data there
  for (const [what, v] of [['NNSEG_WORK_DIR', env.NNSEG_WORK_DIR], ['workDir', c.workDir]] as const)
    if (v !== undefined && v.trim() === '') throw new Error(`${what} is empty: give a folder for uploads and imports, or leave it unset (default ${join(tmpdir(), 'nnseg-server')})`);
  const workDir = resolve(env.NNSEG_WORK_DIR ?? c.workDir ?? join(tmpdir(), 'nnseg-server'));
  const datasetsRoot = c.training.datasetsRoot ?? env.nnUNet_raw;
  if (datasetsRoot !== undefined) c.training = { ...c.training, datasetsRoot: resolve(datasetsRoot) };
  return { ...c, store, workDir };
}

/** Reads the config file (if given or if `nnseg.config.json` exists in cwd) and resolves it. */
export function loadServerConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const file = path ?? env.NNSEG_CONFIG ?? (existsSync('nnseg.config.json') ? 'nnseg.config.json' : undefined);
  if (file === undefined) return resolveServerConfig(undefined, env);
  if (!existsSync(file)) throw new Error(`${file}: config file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return resolveServerConfig(raw, env, file);
}
