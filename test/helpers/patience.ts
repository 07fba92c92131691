/**
 * Timeouts in tests are guards against a hang, never speed claims (benchmarks in bench/ measure time). They
 * are sized for what a step takes on an idle machine and multiplied by PATIENCE, so a loaded CI machine (two
 * cores shared with other work, several times slower) still passes. The factor, NNSEG_TEST_PATIENCE, is set
 * in jest.config.js (default 3).
 */
export const PATIENCE = Math.max(1, Number(process.env.NNSEG_TEST_PATIENCE ?? 1));

/** A guard of `ms` on an idle machine, scaled for a loaded one. */
export const within = (ms: number): number => ms * PATIENCE;
