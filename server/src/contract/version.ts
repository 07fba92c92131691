/**
 * The nnseg release, one constant for every place that names it: the hello answer and /api/health, the
 * OpenAPI document, `nnseg --version`, the viewer's hello and a SEG's SoftwareVersions. It equals the
 * `version` of every package.json (test/unit/contract/version.test.ts holds them together).
 */
export const NNSEG_VERSION = '0.1.0';
