/**
 * nnU-Net's entry points spell many long flags with one dash and underscores (`-gpu_memory_target`, `-np`,
 * `--verify_dataset_integrity`); commander wants two dashes. Each command names the spellings it accepts and
 * the option they mean, so a command line copied from nnU-Net's documentation works unchanged.
 */
export function acceptNnunetSpelling(command: string, spellings: Record<string, string>, argv: string[] = process.argv): void {
  const at = argv.indexOf(command, 2);
  if (at < 0) return;
  for (let i = at + 1; i < argv.length; i++) {
    const [flag, value] = splitAssignment(argv[i]!);
    const ours = spellings[flag];
    if (ours) argv[i] = value === undefined ? ours : `${ours}=${value}`;
  }
}

function splitAssignment(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return arg.startsWith('-') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
}

/** Option parsers shared by the planning commands. */
export function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${name} must be a positive number, got "${v}"`);
    return n;
  };
}

export function positiveInteger(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}
