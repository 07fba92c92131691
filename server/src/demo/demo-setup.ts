/**
 * What `nnseg serve --demo` (and so `npm start`) prepares for a first-time user with no PACS and no model:
 * the committed demo model (trained by nnseg's own trainer on CT phantoms, server/demo-model/) in the model
 * store, and a phantom CT study on disk to open in the viewer with its local-files data source.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelStore } from '../models/model-store.js';
import { ensureDemoStudy, type DemoManifest } from './demo-study.js';

export const DEMO_MODEL_NAME = 'demo-phantom';
/** server/demo-model/Dataset900_Phantom, from server/src/demo or server/dist/demo alike */
export const DEMO_MODEL_SOURCE = fileURLToPath(new URL('../../demo-model/Dataset900_Phantom', import.meta.url));

export interface DemoSetup {
  modelName: string;
  /** true when this call imported the model (false: it was in the store already) */
  imported: boolean;
  studyFolder: string;
  study: DemoManifest;
}

export async function prepareDemo(store: ModelStore, workDir: string): Promise<DemoSetup> {
  let imported = false;
  if (!store.list().models.some((m) => m.card.name === DEMO_MODEL_NAME)) {
    if (!existsSync(DEMO_MODEL_SOURCE)) throw new Error(`the demo model is missing: ${DEMO_MODEL_SOURCE} (see server/demo-model/train-demo.sh)`);
    await store.importModel(DEMO_MODEL_SOURCE, { name: DEMO_MODEL_NAME });
    imported = true;
  }
  const studyFolder = join(workDir, 'demo-study');
  const { manifest } = ensureDemoStudy(studyFolder);
  return { modelName: DEMO_MODEL_NAME, imported, studyFolder, study: manifest };
}
