/**
 * JSON as Python's `json` module writes and reads it, for files nnU-Net exchanges (summary.json,
 * postprocessing.json): NaN/Infinity as bare tokens, `save_json` defaults (batchgenerators:
 * sort_keys=True, indent=4), floats in `repr` form (1.0, 1e-05) and ints without a decimal point.
 */

const NAN = '\u0000nnseg:NaN';
const POS_INF = '\u0000nnseg:Infinity';
const NEG_INF = '\u0000nnseg:-Infinity';

/** Parses JSON that may contain Python's NaN / Infinity / -Infinity tokens. */
export function parsePythonJson(text: string): unknown {
  let out = '';
  let i = 0;
  let last = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      // skip the string
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    const token = text.startsWith('NaN', i) ? 'NaN' : text.startsWith('-Infinity', i) ? '-Infinity' : text.startsWith('Infinity', i) ? 'Infinity' : null;
    if (token) {
      out += text.slice(last, i) + JSON.stringify(token === 'NaN' ? NAN : token === 'Infinity' ? POS_INF : NEG_INF);
      i += token.length;
      last = i;
      continue;
    }
    i++;
  }
  out += text.slice(last);
  return JSON.parse(out, (_k, v) => (v === NAN ? NaN : v === POS_INF ? Infinity : v === NEG_INF ? -Infinity : v));
}

/** Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // JS gives the same shortest digits; only the layout differs
  const [mant, expPart] = x.toExponential().split('e');
  const exp = Number(expPart);
  const sign = mant.startsWith('-') ? '-' : '';
  const digits = mant.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intLen = exp + 1;
  if (digits.length <= intLen) return `${sign}${digits}${'0'.repeat(intLen - digits.length)}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

export interface PythonJsonOptions {
  indent?: number;
  sortKeys?: boolean;
  /** decides per number whether Python holds it as a float (repr with a decimal point) or an int */
  isFloat?: (path: readonly string[], value: number) => boolean;
}

/** A JSON string literal with non-ASCII escaped (Python's ensure_ascii=True). */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `json.dumps(obj, indent=4, sort_keys=True)` as Python would print it. */
export function dumpPythonJson(value: unknown, options: PythonJsonOptions = {}): string {
  const indent = options.indent ?? 4;
  const sortKeys = options.sortKeys ?? true;
  const isFloat = options.isFloat ?? ((_p, v) => !Number.isInteger(v));
  const walk = (v: unknown, path: string[], depth: number): string => {
    const pad = ' '.repeat(indent * (depth + 1));
    const end = ' '.repeat(indent * depth);
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || isFloat(path, v)) return pythonFloatRepr(v);
      return String(v);
    }
    if (typeof v === 'string') return pythonString(v);
    if (typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[\n${v.map((x, i) => pad + walk(x, [...path, String(i)], depth + 1)).join(',\n')}\n${end}]`;
    }
    if (v instanceof Map) return walk(Object.fromEntries(v), path, depth);
    if (typeof v === 'object') {
      const keys = Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
      if (sortKeys) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // code-point order like Python
      if (keys.length === 0) return '{}';
      return `{\n${keys.map((k) => `${pad}${pythonString(k)}: ${walk((v as Record<string, unknown>)[k], [...path, k], depth + 1)}`).join(',\n')}\n${end}}`;
    }
    throw new Error(`cannot write ${typeof v} as JSON (at ${path.join('.') || 'top level'})`);
  };
  return walk(value, [], 0);
}
