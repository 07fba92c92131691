/**
 * What the panel does to the viewer (OHIF 3.13.2 services; see ohif-types.ts): find the active series,
 * fetch its instances' bytes from the data source, draw partial slabs, store or download the SEG, remove
 * a result. Kept out of the React component so the component only holds state.
 */
import type {
  CornerstoneCore,
  CornerstoneTools,
  DataSource,
  DicomLoaderService,
  DisplaySet,
  ExtensionManager,
  OhifInstance,
  ServicesManager,
} from './ohif-types.js';
import { serverPlaneOrder, writeSlab, type PlaneGeometry } from './partial-labelmap.js';

export interface ViewerContext {
  servicesManager: ServicesManager;
  extensionManager: ExtensionManager;
}

export interface ActiveSeries {
  viewportId: string;
  displaySet: DisplaySet;
  modality: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  instances: OhifInstance[];
}

/** The image series shown in the active viewport, or an error message saying why there is none. */
export function activeSeries(ctx: ViewerContext): ActiveSeries | { error: string } {
  const { viewportGridService, displaySetService } = ctx.servicesManager.services;
  const viewportId = viewportGridService.getActiveViewportId();
  if (!viewportId) return { error: 'No active viewport: open a series first.' };
  const sets = viewportGridService
    .getDisplaySetsUIDsForViewport(viewportId)
    .map((uid) => displaySetService.getDisplaySetByUID(uid))
    .filter((d): d is DisplaySet => d !== undefined && !d.isOverlayDisplaySet);
  const ds = sets[0];
  if (!ds) return { error: 'The active viewport shows no image series.' };
  const instances = ds.instances ?? ds.images ?? [];
  if (instances.length === 0) return { error: `Series ${ds.SeriesDescription ?? ds.SeriesInstanceUID} has no instances loaded yet.` };
  if (['SEG', 'RTSTRUCT', 'SR', 'PR', 'KO', 'DOC'].includes(ds.Modality)) return { error: `The active viewport shows a ${ds.Modality}, not an image series.` };
  return { viewportId, displaySet: ds, modality: ds.Modality, studyInstanceUID: ds.StudyInstanceUID, seriesInstanceUID: ds.SeriesInstanceUID, instances };
}

export function activeDataSource(ctx: ViewerContext): { source: DataSource; isDicomWeb: boolean; name: string } {
  const [source] = ctx.extensionManager.getActiveDataSource();
  const name = ctx.extensionManager.activeDataSourceName;
  const wadoRoot = source?.getConfig?.()?.wadoRoot;
  return { source, isDicomWeb: name !== 'dicomlocal' && typeof wadoRoot === 'string' && wadoRoot.length > 0, name };
}

export function cornerstoneLibraries(ctx: ViewerContext): { core: CornerstoneCore; tools: CornerstoneTools } {
  const entry = ctx.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common');
  const get = entry?.exports.getCornerstoneLibraries as (() => { cornerstone: CornerstoneCore; cornerstoneTools: CornerstoneTools }) | undefined;
  if (!get) throw new Error('the host has no @ohif/extension-cornerstone utility module');
  const { cornerstone, cornerstoneTools } = get();
  return { core: cornerstone, tools: cornerstoneTools };
}

function baseImageId(instance: OhifInstance): string | undefined {
  const id = instance.url ?? instance.imageId;
  return typeof id === 'string' ? id.replace(/[?&]frame=\d+$/, '') : undefined;
}

/**
 * Part 10 bytes of every instance of the series, through OHIF's own loader (utilityModule.common
 * `dicomLoaderService`): local files from the wadouri file manager, DICOMweb by WADO-RS retrieveInstance.
 */
export async function fetchInstanceBytes(ctx: ViewerContext, series: ActiveSeries, onProgress?: (done: number, total: number) => void): Promise<Uint8Array[]> {
  const loader = ctx.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common')?.exports.dicomLoaderService as DicomLoaderService | undefined;
  if (!loader) throw new Error('the host has no dicomLoaderService (@ohif/extension-cornerstone utility module)');
  const { source } = activeDataSource(ctx);
  const wadoRoot = source?.getConfig?.()?.wadoRoot;
  const seen = new Set<string>();
  const unique = series.instances.filter((i) => !seen.has(i.SOPInstanceUID) && seen.add(i.SOPInstanceUID));
  const out: Uint8Array[] = new Array(unique.length);
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const k = next++;
      const inst = unique[k];
      const id = baseImageId(inst);
      const request =
        id?.startsWith('dicomfile:')
          ? { instance: { imageId: id, url: id } }
          : { StudyInstanceUID: inst.StudyInstanceUID, SeriesInstanceUID: inst.SeriesInstanceUID, SOPInstanceUID: inst.SOPInstanceUID, wadoRoot, instance: inst };
      let buffer: ArrayBuffer;
      try {
        buffer = await loader.findDicomDataPromise(request, null, {});
      } catch (e) {
        throw new Error(`could not read instance ${inst.SOPInstanceUID} from the data source: ${(e as Error).message ?? e}`);
      }
      if (!buffer || buffer.byteLength === 0) throw new Error(`instance ${inst.SOPInstanceUID}: the data source returned no bytes`);
      out[k] = new Uint8Array(buffer);
      onProgress?.(++done, unique.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, unique.length) }, worker));
  return out;
}

/** Live overlay for partial slabs: a labelmap segmentation on the series, written plane by plane. */
export class PartialOverlay {
  private segmentationId: string | null = null;
  private order: number[] | null = null;
  constructor(
    private readonly ctx: ViewerContext,
    private readonly series: ActiveSeries,
    private readonly segmentLabels: Record<number, string>,
  ) {}

  async write(slab: { z0: number; shape: [number, number, number]; labels: Uint8Array }): Promise<void> {
    const { segmentationService } = this.ctx.servicesManager.services;
    const { core, tools } = cornerstoneLibraries(this.ctx);
    if (!this.segmentationId) {
      const segments: Record<number, { label: string; active?: boolean }> = {};
      for (const [value, label] of Object.entries(this.segmentLabels)) segments[Number(value)] = { label, active: Number(value) === 1 };
      this.segmentationId = await segmentationService.createLabelmapForDisplaySet(this.series.displaySet, { label: 'nnseg (running…)', segments });
      await segmentationService.addSegmentationRepresentation(this.series.viewportId, { segmentationId: this.segmentationId });
    }
    const seg = segmentationService.getSegmentation(this.segmentationId);
    const labelmap = seg?.representationData.Labelmap;
    const imageIds = labelmap?.imageIds ?? [];
    const refIds = labelmap?.referencedImageIds ?? this.series.displaySet.imageIds ?? [];
    if (!this.order) {
      const planes: PlaneGeometry[] = refIds.map((id) => {
        const m = core.metaData.get('imagePlaneModule', id) as { imagePositionPatient?: number[]; rowCosines?: number[]; columnCosines?: number[] } | undefined;
        return { ImagePositionPatient: m?.imagePositionPatient, ImageOrientationPatient: m?.rowCosines && m.columnCosines ? [...m.rowCosines, ...m.columnCosines] : undefined };
      });
      this.order = serverPlaneOrder(planes);
    }
    const pixelArrays = imageIds.map((id) => core.cache.getImage(id)?.getPixelData() ?? { length: 0 });
    writeSlab(pixelArrays, this.order, slab);
    tools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(this.segmentationId);
  }

  remove(): void {
    if (!this.segmentationId) return;
    this.ctx.servicesManager.services.segmentationService.remove(this.segmentationId);
    this.segmentationId = null;
  }
}

/** Accept: STOW-RS through the DICOMweb data source; with local files, a download of the SEG file. */
export async function storeSeg(ctx: ViewerContext, seg: Uint8Array, fileName: string): Promise<'stored' | 'downloaded'> {
  const { source, isDicomWeb } = activeDataSource(ctx);
  const buffer = seg.buffer.slice(seg.byteOffset, seg.byteOffset + seg.byteLength) as ArrayBuffer;
  if (isDicomWeb) {
    await source.store.dicom(buffer);
    return 'stored';
  }
  const url = URL.createObjectURL(new Blob([buffer], { type: 'application/dicom' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return 'downloaded';
}

/** Reject: the overlay, its segmentation and the SEG display set go away. */
export function removeResult(ctx: ViewerContext, segmentationId: string, displaySetInstanceUID: string): void {
  const { segmentationService, displaySetService } = ctx.servicesManager.services;
  try {
    segmentationService.remove(segmentationId);
  } finally {
    displaySetService.deleteDisplaySet(displaySetInstanceUID);
  }
}

/**
 * The labelmap of a segmentation (e.g. after manual edits) in the server's plane order: uint8, x fastest,
 * planes ascending along the normal — the layout of `partial` slabs, so the server reads it the same way.
 */
export function readLabelmap(ctx: ViewerContext, segmentationId: string): { shape: [number, number, number]; labels: Uint8Array } {
  const { core } = cornerstoneLibraries(ctx);
  const seg = ctx.servicesManager.services.segmentationService.getSegmentation(segmentationId);
  const lm = seg?.representationData.Labelmap;
  if (!lm?.imageIds?.length || !lm.referencedImageIds?.length) throw new Error(`segmentation ${segmentationId} has no stack labelmap to send`);
  const planes: PlaneGeometry[] = lm.referencedImageIds.map((id) => {
    const m = core.metaData.get('imagePlaneModule', id) as { imagePositionPatient?: number[]; rowCosines?: number[]; columnCosines?: number[] } | undefined;
    return { ImagePositionPatient: m?.imagePositionPatient, ImageOrientationPatient: m?.rowCosines && m.columnCosines ? [...m.rowCosines, ...m.columnCosines] : undefined };
  });
  const order = serverPlaneOrder(planes);
  const first = core.cache.getImage(lm.imageIds[0]) as unknown as { rows: number; columns: number; getPixelData(): ArrayLike<number> } | undefined;
  if (!first) throw new Error(`segmentation ${segmentationId}: labelmap images are not in the cache`);
  const ny = first.rows;
  const nx = first.columns;
  const labels = new Uint8Array(order.length * ny * nx);
  order.forEach((viewerIndex, k) => {
    const px = core.cache.getImage(lm.imageIds![viewerIndex])?.getPixelData();
    if (px) labels.set(px as ArrayLike<number>, k * ny * nx);
  });
  return { shape: [order.length, ny, nx], labels };
}
