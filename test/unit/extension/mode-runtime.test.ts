import mode, { deriveMode, extensionUrl, isValidMode, MODE_ID } from '../../../modes/nnseg/src/index.js';
import { readClientConfig, resolveServerUrls } from '../../../extension/src/runtime-config.js';

const stock = () => ({
  id: '@ohif/mode-segmentation',
  routeName: 'segmentation',
  displayName: 'Segmentation',
  extensions: { '@ohif/extension-default': '^3.0.0' },
  routes: [
    {
      path: 'template',
      layoutTemplate() {
        return this.layoutInstance;
      },
      layoutInstance: { id: 'layout', props: { rightPanels: ['@ohif/extension-cornerstone.panelModule.panelSegmentationWithToolsLabelMap'], leftPanels: ['x'] } },
    },
  ],
  onModeEnter() {},
});

describe('nnseg mode', () => {
  it('derives from the stock segmentation mode: own id/route, our panel first, our extension by URL', () => {
    const base = stock();
    const m = deriveMode(base);
    expect([m.id, m.routeName]).toEqual([MODE_ID, 'nnseg']);
    expect(m.routes[0].layoutInstance!.props.rightPanels).toEqual(['@nnseg/extension.panelModule.nnseg', '@ohif/extension-cornerstone.panelModule.panelSegmentationWithToolsLabelMap']);
    expect(m.routes[0].layoutInstance!.props.leftPanels).toEqual(['x']);
    expect(m.extensions).toEqual({ '@ohif/extension-default': '^3.0.0', '/plugins/nnseg-extension.mjs': '^0.1.0' });
    expect(m.onModeEnter).toBe(base.onModeEnter);
    // the stock instance is not modified
    expect(base.routes[0].layoutInstance.props.rightPanels).toHaveLength(1);
  });

  it('modeFactory loads @ohif/mode-segmentation through the host and calls its factory with `this` bound', async () => {
    const requested: string[][] = [];
    const seg = {
      id: 'seg',
      modeInstance: stock(),
      modeFactory(this: { modeInstance: ReturnType<typeof stock> }) {
        return this.modeInstance;
      },
    };
    const m = await mode.modeFactory.call(mode, { modeConfiguration: {}, loadModules: async (names: string[]) => (requested.push(names), [seg]) });
    expect(requested).toEqual([['@ohif/mode-segmentation']]);
    expect(m.id).toBe(MODE_ID);
    await expect(mode.modeFactory.call(mode, {})).rejects.toThrow(/loadModules/);
  });

  it('is valid for studies with CT or MR, not for SEG-only or US', () => {
    expect(isValidMode({ modalities: 'CT' }).valid).toBe(true);
    expect(isValidMode({ modalities: 'SEG\\MR' }).valid).toBe(true);
    expect(isValidMode({ modalities: 'SEG' }).valid).toBe(false);
    expect(isValidMode({ modalities: 'US' }).valid).toBe(false);
  });

  it('names the extension by the URL app-config loads it from', () => {
    expect(extensionUrl({ extensions: ['@ohif/x', '/viewer/plugins/nnseg-extension.mjs'] })).toBe('/viewer/plugins/nnseg-extension.mjs');
    expect(extensionUrl(undefined)).toBe('/plugins/nnseg-extension.mjs');
  });
});

describe('runtime config', () => {
  const loc = { protocol: 'https:', host: 'pacs.example:8443', origin: 'https://pacs.example:8443' };
  it('resolves a path against the page (wss on https) and keeps absolute URLs', () => {
    expect(resolveServerUrls('/ws', loc)).toEqual({ wsUrl: 'wss://pacs.example:8443/ws', httpBase: 'https://pacs.example:8443' });
    expect(resolveServerUrls('ws://10.0.0.2:8000/ws', loc)).toEqual({ wsUrl: 'ws://10.0.0.2:8000/ws', httpBase: 'http://10.0.0.2:8000' });
    expect(resolveServerUrls('http://h:1/ws', loc).wsUrl).toBe('ws://h:1/ws');
    expect(() => resolveServerUrls('ftp://h/ws', loc)).toThrow(/not a ws\(s\) or http\(s\) URL/);
  });
  it('validates window.config.nnseg and says what is wrong', () => {
    expect(readClientConfig({ version: 1, serverUrl: '/ws', serverReachesPacs: false })).toEqual({ version: 1, serverUrl: '/ws', serverReachesPacs: false });
    expect(() => readClientConfig(undefined)).toThrow(/window\.config\.nnseg is missing or invalid \(version/);
  });
});
