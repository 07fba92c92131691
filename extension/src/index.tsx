/**
 * The OHIF extension `@nnseg/extension`, loaded at run time by the prebuilt viewer (app-config.js
 * `extensions: ['/plugins/nnseg-extension.mjs']`; platform/app/src/pluginImports.js `loadModule` →
 * `window.browserImportFunction` → `.default`). The host does not share its React with runtime modules:
 * the panel component handed to the host renders only an empty <div>; our own React root lives inside it.
 * Elements made by our React 18.3.1 are plain objects the host's React 18.3.1 accepts.
 */
import { Component, createElement } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { NnsegPanel } from './NnsegPanel.js';
import { getRuntime } from './runtime-config.js';
import { activeSeries } from './viewer-actions.js';
import type { ExtensionParams } from './ohif-types.js';

export const EXTENSION_ID = '@nnseg/extension';
export const PANEL_NAME = 'nnseg';
/** what a mode puts in rightPanels */
export const PANEL_ID = `${EXTENSION_ID}.panelModule.${PANEL_NAME}`;

/** Class component so the host keeps one instance (and one stable ref) per mounted panel. */
class PanelBridge extends Component<{ params: ExtensionParams }> {
  private root: Root | null = null;
  private readonly attach = (el: HTMLDivElement | null) => {
    if (!el || this.root) return;
    const { connection, session } = getRuntime();
    const { servicesManager, extensionManager } = this.props.params;
    const ctx = { servicesManager, extensionManager };
    session.ctx = ctx;
    this.root = createRoot(el);
    this.root.render(createElement(NnsegPanel, { ctx, session }));
    // for the e2e test and debugging: the page's OHIF services as the panel sees them
    (globalThis as unknown as { __nnseg?: unknown }).__nnseg = { servicesManager, extensionManager, connection };
  };
  override componentWillUnmount() {
    const r = this.root;
    this.root = null;
    // not inside the host's commit: unmounting another React's root there would be a nested render
    if (r) setTimeout(() => r.unmount(), 0);
  }
  override render() {
    return createElement('div', { ref: this.attach, style: { height: '100%', overflow: 'auto' }, 'data-nnseg-host': '' });
  }
}

const extension = {
  id: EXTENSION_ID,
  version: '0.1.0',
  preRegistration() {
    try {
      getRuntime();
    } catch (e) {
      // shown in the panel too; the viewer itself keeps working
      console.error('[nnseg]', (e as Error).message);
    }
  },
  getPanelModule(params: ExtensionParams) {
    return [
      {
        name: PANEL_NAME,
        iconName: 'tab-segmentation',
        iconLabel: 'nnseg',
        label: 'nnseg',
        component: () => createElement(PanelBridge, { params }),
      },
    ];
  },
  getCommandsModule(params: ExtensionParams) {
    return {
      definitions: {
        nnsegActiveSeries: {
          commandFn: () => {
            const s = activeSeries(params);
            return 'error' in s ? s : { studyInstanceUID: s.studyInstanceUID, seriesInstanceUID: s.seriesInstanceUID, modality: s.modality, instances: s.instances.length };
          },
        },
        nnsegConnectionStatus: { commandFn: () => getRuntime().connection.status },
      },
      defaultContext: 'VIEWER',
    };
  },
};

export default extension;
