/** PACS auto-segmentation: config, routing rules, discovery, ledger, watcher, status. */
export { PACS_CONFIG_VERSION, PacsConfigSchema, parsePacsConfig, loadPacsConfig, pacsHeaders, type PacsConfig, type PacsConfigInput, type RoutingRule } from './config.js';
export { routeSeries, ruleMatches, NON_IMAGE_MODALITIES, type SeriesAttributes } from './rules.js';
export { QidoDiscovery, OrthancChangesDiscovery, isOrthanc, orthancRootOf, type SeriesDiscovery, type DiscoveryPoll } from './discovery.js';
export { findExistingSeg, type ExistingSeg } from './existing-seg.js';
export { Ledger, LedgerRecordSchema, LEDGER_VERSION, type SeriesRecord } from './ledger.js';
export { PacsWatcher, PACS_SESSION_ID, type PacsWatcherOptions } from './watcher.js';
export { PacsStatusSchema, PACS_STATUS_VERSION, buildStatus, pacsStatusHandler, type PacsStatus } from './status.js';
