/**
 * What `nnseg serve` mounts for the viewer, from the server config: the prebuilt OHIF app with our
 * bundles and the `/dicom-web` proxy to `config.pacs`. A missing viewer download is not fatal for the
 * server (the API still runs): it is reported and the viewer is left out.
 */
import type { Express } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerConfig } from '../config/server-config.js';
import { DEFAULT_VIEWER_ROOT, mountViewer } from './mount.js';

export function viewerMounts(
  config: Pick<ServerConfig, 'viewer' | 'pacs' | 'tokens' | 'anonymousRole'>,
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): ((app: Express) => void)[] {
  if (!config.viewer.enabled) return [];
  const viewerRoot = config.viewer.root ?? env.NNSEG_VIEWER_ROOT ?? DEFAULT_VIEWER_ROOT;
  if (!existsSync(join(viewerRoot, 'index.html'))) {
    log(`nnseg serve: viewer not served: ${join(viewerRoot, 'index.html')} is missing (run \`node extension/scripts/fetch-ohif.mjs\` and \`node extension/scripts/build.mjs\`)`);
    return [];
  }
  return [
    (app) =>
      mountViewer(app, {
        viewerRoot,
        ...(config.pacs ? { pacsUrl: config.pacs.url, ...(config.pacs.headers ? { pacsHeaders: config.pacs.headers } : {}) } : {}),
        auth: { tokens: config.tokens, anonymousRole: config.anonymousRole },
        // the page is public: only a low-privilege token belongs here (role viewer or annotator)
        ...(env.NNSEG_VIEWER_TOKEN ? { token: env.NNSEG_VIEWER_TOKEN } : {}),
      }),
  ];
}
