/**
 * What the server tells the viewer through OHIF's `app-config.js` (`window.config.nnseg`), and the public
 * paths of the runtime-loaded bundles. The server writes it (viewer/app-config.ts), the extension validates it.
 */
import { z } from 'zod';

export const APP_CONFIG_VERSION = 1;

/** Public URL paths of our runtime-loaded bundles (served by `mountViewer`). */
export const EXTENSION_BUNDLE_PATH = '/plugins/nnseg-extension.mjs';
export const MODE_BUNDLE_PATH = '/plugins/nnseg-mode.mjs';
/** Same-origin DICOMweb reverse proxy to the configured PACS. */
export const DICOMWEB_PROXY_PATH = '/dicom-web';

/** What the extension reads from `window.config.nnseg` (validated there with the same schema). */
export const NnsegClientConfigSchema = z.object({
  version: z.literal(APP_CONFIG_VERSION),
  /** WebSocket URL of the nnseg server; a path ('/ws') is resolved against the page origin */
  serverUrl: z.string().min(1),
  /** bearer token sent in the hello message, when the server requires one */
  token: z.string().optional(),
  /** true when the server can pull series itself from the same PACS the viewer shows */
  serverReachesPacs: z.boolean(),
});
export type NnsegClientConfig = z.infer<typeof NnsegClientConfigSchema>;
