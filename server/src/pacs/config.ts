/**
 * PACS auto-segmentation configuration (`nnseg watch --config rules.json`, versioned): which PACS to watch,
 * how to discover new series, and the routing rules "series matching X → run model M, store the SEG".
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const PACS_CONFIG_VERSION = 1;

/** Regular expressions are compiled at load time so a typo fails the config, not a poll at 3 a.m. */
const regexString = z.string().refine(
  (s) => {
    try {
      new RegExp(s, 'i');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

export const RuleMatchSchema = z.strictObject({
  /** one modality or a list (CT, MR, …); compared case-insensitively */
  modality: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** BodyPartExamined (0018,0015), one value or a list; case-insensitive */
  bodyPart: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** SeriesDescription (0008,103E), regular expression, case-insensitive */
  seriesDescription: regexString.optional(),
  /** AE title that sent the series (known only with Orthanc's change feed: RemoteAET metadata) */
  callingAE: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
});
export type RuleMatch = z.infer<typeof RuleMatchSchema>;

export const RuleOptionsSchema = z.strictObject({
  configuration: z.string().optional(),
  folds: z.array(z.string()).optional(),
  tta: z.boolean().optional(),
  step: z.number().gt(0).max(1).optional(),
  segType: z.enum(['binary', 'labelmap', 'fractional']).optional(),
});

export const RoutingRuleSchema = z.strictObject({
  /** shown in the status and the ledger (default: rule-<index>) */
  name: z.string().min(1).max(64).optional(),
  match: RuleMatchSchema,
  /** model name in the model store */
  model: z.string().min(1),
  options: RuleOptionsSchema.default({}),
});
export type RoutingRule = z.infer<typeof RoutingRuleSchema>;

export const PacsConfigSchema = z.strictObject({
  version: z.literal(PACS_CONFIG_VERSION),
  dicomWeb: z.strictObject({
    /** DICOMweb service root, e.g. http://orthanc:8042/dicom-web */
    url: z.string().url(),
    /** sent with every request */
    headers: z.record(z.string(), z.string()).optional(),
    /** bearer token (alternative to writing the Authorization header); env NNSEG_PACS_TOKEN overrides */
    token: z.string().optional(),
    timeoutMs: z.number().int().positive().default(30_000),
    retries: z.number().int().min(0).max(10).default(3),
  }),
  discovery: z
    .strictObject({
      /** 'qido': poll QIDO-RS; 'orthanc-changes': Orthanc's /changes feed (StableSeries); 'auto': the feed when the PACS answers /system as Orthanc */
      mode: z.enum(['auto', 'qido', 'orthanc-changes']).default('auto'),
      /** Orthanc REST root when it differs from the DICOMweb url minus /dicom-web */
      orthancUrl: z.string().url().optional(),
      pollIntervalSeconds: z.number().positive().default(10),
      /** QIDO: a series is complete once its instance count has not changed for this long */
      stableSeconds: z.number().min(0).default(30),
      /** QIDO: StudyDate window looked at behind the watermark (late arrivals of older studies) */
      lookbackDays: z.number().int().min(0).max(3650).default(1),
      /** first start without a ledger: 'now' ignores what is already in the PACS, 'all' processes it */
      startFrom: z.enum(['now', 'all']).default('now'),
    })
    .default({ mode: 'auto', pollIntervalSeconds: 10, stableSeconds: 30, lookbackDays: 1, startFrom: 'now' }),
  /** JSON-lines journal of what was processed (exactly-once across restarts) */
  ledger: z.string().min(1),
  /** series processed at the same time (each is one job in the queue) */
  maxInFlight: z.number().int().positive().default(2),
  /** a series whose job was interrupted this many times is marked failed */
  maxAttempts: z.number().int().positive().default(3),
  rules: z.array(RoutingRuleSchema).min(1, 'at least one routing rule is needed'),
});
export type PacsConfigInput = z.input<typeof PacsConfigSchema>;
export type PacsConfig = z.output<typeof PacsConfigSchema>;

/** Validates a parsed config; errors list every problem with its JSON path. */
export function parsePacsConfig(raw: unknown, label = 'PACS config'): PacsConfig {
  const result = PacsConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${label}: ${problems}`);
  }
  return result.data;
}

export function loadPacsConfig(path: string): PacsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read PACS config (${(err as Error).message})`);
  }
  return parsePacsConfig(raw, path);
}

/** Headers for the PACS: explicit headers, then the token (env NNSEG_PACS_TOKEN wins over the file). */
export function pacsHeaders(config: PacsConfig, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const headers = { ...(config.dicomWeb.headers ?? {}) };
  const token = env.NNSEG_PACS_TOKEN ?? config.dicomWeb.token;
  if (token) headers.authorization = `Bearer ${token}`;
  return headers;
}
