/**
 * The OHIF mode "nnseg": the stock segmentation mode (@ohif/mode-segmentation 3.13.2,
 * modes/segmentation/src/index.tsx) with the nnseg panel first in the right panels. Loaded at run time
 * (app-config.js `modes: ['/plugins/nnseg-mode.mjs']`); the host calls `modeFactory({ modeConfiguration,
 * loadModules })` (platform/app/src/appInit.js), and `loadModules` gives us the host's own segmentation mode.
 */
export const MODE_ID = '@nnseg/mode-nnseg';
const PANEL_ID = '@nnseg/extension.panelModule.nnseg';
const SEGMENTABLE = ['CT', 'MR'];

/**
 * The Mode route imports every key of `mode.extensions` (routes/Mode/Mode.tsx `importItems(Object.keys(
 * extensions))`), so our extension is named by the URL app-config.js loads it from: the browser's module
 * map returns the already-registered module.
 */
export function extensionUrl(config: { extensions?: unknown[] } | undefined): string {
  const found = config?.extensions?.find((e): e is string => typeof e === 'string' && e.endsWith('nnseg-extension.mjs'));
  return found ?? '/plugins/nnseg-extension.mjs';
}
const EXTENSION_URL = extensionUrl((globalThis as { config?: { extensions?: unknown[] } }).config);

interface LayoutInstance {
  id: string;
  props: { rightPanels?: string[]; [k: string]: unknown };
}
interface ModeRoute {
  path: string;
  layoutTemplate: (this: ModeRoute, ...args: unknown[]) => unknown;
  layoutInstance?: LayoutInstance;
  [k: string]: unknown;
}
interface ModeInstance {
  id: string;
  routeName: string;
  displayName: string;
  routes: ModeRoute[];
  extensions: Record<string, string>;
  onModeEnter?: (this: ModeInstance, ctx: unknown) => void;
  isValidMode?: (o: { modalities: string; study?: unknown }) => { valid: boolean; description?: string };
  [k: string]: unknown;
}
interface ModeModule {
  id: string;
  modeFactory: (this: ModeModule, o: { modeConfiguration?: unknown; loadModules?: unknown }) => ModeInstance | Promise<ModeInstance>;
  modeInstance?: ModeInstance;
  extensionDependencies?: Record<string, string>;
}

/** Valid when the study has CT or MR images (the modalities our models take). */
export function isValidMode({ modalities }: { modalities: string }): { valid: boolean; description: string } {
  const list = (modalities ?? '').split('\\').map((m) => m.trim().toUpperCase());
  return { valid: list.some((m) => SEGMENTABLE.includes(m)), description: 'nnseg segments CT and MR series' };
}

/** Derives our instance from the stock one: new id/route/name, our panel first, our extension required. */
export function deriveMode(base: ModeInstance): ModeInstance {
  const routes = base.routes.map((route) => {
    const layout = route.layoutInstance;
    if (!layout) return route;
    const rightPanels = [PANEL_ID, ...(layout.props.rightPanels ?? []).filter((p) => p !== PANEL_ID)];
    return { ...route, layoutInstance: { ...layout, props: { ...layout.props, rightPanels } } };
  });
  return {
    ...base,
    id: MODE_ID,
    routeName: 'nnseg',
    displayName: 'nnseg Segmentation',
    routes,
    extensions: { ...base.extensions, [EXTENSION_URL]: '^0.1.0' },
    isValidMode,
  };
}

const mode: ModeModule & { extensionDependencies: Record<string, string> } = {
  id: MODE_ID,
  extensionDependencies: { [EXTENSION_URL]: '^0.1.0' },
  async modeFactory({ modeConfiguration, loadModules }) {
    if (typeof loadModules !== 'function') throw new Error('nnseg mode: the host did not pass loadModules (needs @ohif/app ≥ 3.10)');
    const [segmentation] = (await loadModules(['@ohif/mode-segmentation'])) as ModeModule[];
    if (!segmentation?.modeFactory) throw new Error('nnseg mode: @ohif/mode-segmentation is not available in this viewer build');
    const base = await segmentation.modeFactory.call(segmentation, { modeConfiguration });
    return deriveMode(base);
  },
};

export default mode;
