/**
 * Minimal local interfaces for the OHIF 3.13.2 services this extension uses. `@ohif/core` cannot be
 * installed here (its `@ohif/ui` peer needs an `@ohif/i18n` that the registry lacks) and the prebuilt host
 * does not expose it to runtime modules, so we declare only what we call. Each interface names the OHIF
 * source file it mirrors; the e2e test catches drift (pin: @ohif/app 3.13.2).
 */

/** platform/core/src/services/ServicesManager.ts */
export interface ServicesManager {
  services: {
    displaySetService: DisplaySetService;
    segmentationService: SegmentationService;
    viewportGridService: ViewportGridService;
    uiNotificationService?: UINotificationService;
    [name: string]: unknown;
  };
}

/** platform/core/src/services/DisplaySetService/DisplaySetService.ts */
export interface DisplaySetService {
  EVENTS: Record<string, string>;
  getDisplaySetByUID(uid: string): DisplaySet | undefined;
  getActiveDisplaySets(): DisplaySet[];
  /** runs the SOP class handlers of the current mode on the instances and adds the display sets */
  makeDisplaySets(instances: object[], options?: { madeInClient?: boolean; batch?: boolean }): DisplaySet[] | undefined;
  deleteDisplaySet(uid: string): void;
  subscribe(event: string, cb: (payload: unknown) => void): { unsubscribe(): void };
}

/** platform/core/src/types/DisplaySet.ts (fields set by extensions/default getSopClassHandlerModule and cornerstone-dicom-seg) */
export interface DisplaySet {
  displaySetInstanceUID: string;
  StudyInstanceUID: string;
  SeriesInstanceUID: string;
  SeriesDescription?: string;
  Modality: string;
  SOPClassUID?: string;
  instances?: OhifInstance[];
  images?: OhifInstance[];
  imageIds?: string[];
  isOverlayDisplaySet?: boolean;
  referencedDisplaySetInstanceUID?: string;
  load?: (o: { headers: Record<string, string> }) => Promise<void>;
  isLoaded?: boolean;
}

/** a naturalized instance as kept by platform/core/src/services/DicomMetadataStore */
export interface OhifInstance {
  StudyInstanceUID: string;
  SeriesInstanceUID: string;
  SOPInstanceUID: string;
  SOPClassUID?: string;
  Modality?: string;
  ImagePositionPatient?: number[];
  ImageOrientationPatient?: number[];
  NumberOfFrames?: number;
  /** `dicomfile:<n>` for local files, `wadors:…`/`dicomweb:…` for DICOMweb */
  url?: string;
  imageId?: string;
  [tag: string]: unknown;
}

/** extensions/cornerstone/src/services/SegmentationService/SegmentationService.ts */
export interface SegmentationService {
  EVENTS: Record<string, string>;
  getSegmentation(segmentationId: string): OhifSegmentation | undefined;
  getSegmentations(): OhifSegmentation[];
  getSegmentationRepresentations(viewportId: string, filter?: { segmentationId?: string }): { segmentationId: string; type: string; active?: boolean }[];
  addSegmentationRepresentation(viewportId: string, o: { segmentationId: string; type?: string }): Promise<void>;
  createLabelmapForDisplaySet(displaySet: DisplaySet, o?: { segmentationId?: string; label?: string; segments?: Record<number, { label: string; active?: boolean }> }): Promise<string>;
  remove(segmentationId: string): void;
  subscribe(event: string, cb: (payload: unknown) => void): { unsubscribe(): void };
}

/** @cornerstonejs/tools types/SegmentationStateTypes.ts, as returned by SegmentationService.getSegmentation */
export interface OhifSegmentation {
  segmentationId: string;
  label?: string;
  segments: Record<string, { segmentIndex: number; label: string; color?: number[] } | undefined>;
  representationData: { Labelmap?: { imageIds?: string[]; referencedImageIds?: string[]; volumeId?: string } };
}

/** platform/core/src/services/ViewportGridService/ViewportGridService.ts */
export interface ViewportGridService {
  getActiveViewportId(): string;
  getDisplaySetsUIDsForViewport(viewportId: string): string[];
  subscribe(event: string, cb: (payload: unknown) => void): { unsubscribe(): void };
  EVENTS: Record<string, string>;
}

/** platform/core/src/services/UINotificationService/UINotificationService.ts */
export interface UINotificationService {
  show(o: { title: string; message: string; type?: 'info' | 'success' | 'warning' | 'error'; duration?: number }): void;
}

/** platform/core/src/extensions/ExtensionManager.ts */
export interface ExtensionManager {
  getModuleEntry(id: string): { exports: Record<string, unknown> } | undefined;
  getActiveDataSource(): DataSource[];
  getDataSources(name?: string): DataSource[] | undefined;
  activeDataSourceName: string;
}

/** extensions/default/src/DicomWebDataSource/index.ts (the part we use) */
export interface DataSource {
  getConfig?(): { wadoRoot?: string; qidoRoot?: string; name?: string; dicomUploadEnabled?: boolean } | undefined;
  store: { dicom(dataset: ArrayBuffer | object, request?: unknown, dicomDict?: unknown): Promise<void> };
}

/** platform/core/src/classes/CommandsManager.ts */
export interface CommandsManager {
  runCommand(name: string, options?: Record<string, unknown>, context?: string): unknown;
}

/** extensions/cornerstone/src/utils/dicomLoaderService.js (utilityModule.common export) */
export interface DicomLoaderService {
  findDicomDataPromise(dataset: object, studies: null, headers?: Record<string, string>): Promise<ArrayBuffer>;
}

/** The subset of @cornerstonejs/core exposed by getCornerstoneLibraries() that we touch. */
export interface CornerstoneCore {
  cache: { getImage(imageId: string): { getPixelData(): ArrayLike<number> & { [i: number]: number } } | undefined };
  metaData: { get(type: string, imageId: string): Record<string, unknown> | undefined };
}
export interface CornerstoneTools {
  segmentation: { triggerSegmentationEvents: { triggerSegmentationDataModified(segmentationId: string): void } };
}

/** What OHIF passes to getPanelModule / getCommandsModule / preRegistration. */
export interface ExtensionParams {
  servicesManager: ServicesManager;
  extensionManager: ExtensionManager;
  commandsManager: CommandsManager;
  configuration?: Record<string, unknown>;
}

/** The app-config object (`window.config`) of the prebuilt app, as far as we read it. */
export interface AppWindow {
  config?: { nnseg?: unknown; dataSources?: { sourceName: string }[] };
  cornerstone?: CornerstoneCore;
  cornerstoneTools?: CornerstoneTools;
}
