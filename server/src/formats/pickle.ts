/**
 * A pickle reader that treats the stream as DATA: it never imports or calls anything. Globals are
 * looked up in an allow-list of known constructors (torch tensor rebuilders, OrderedDict, numpy scalars…)
 * implemented here as pure data constructors; any other global is refused with an error naming it.
 * A checkpoint is untrusted input (pickle normally executes arbitrary code on load).
 *
 * Implements the opcodes of protocols 0–5 that produce data (torch.save writes protocol 2); refuses
 * INST/OBJ/EXT*, out-of-band buffers and text PERSID. Where an opcode's meaning depends on the object it acts
 * on, it follows CPython's `Lib/pickle.py` `_Unpickler` (load_build, load_appends, load_setitems…), not our
 * own writer: e.g. BUILD on an OrderedDict sets instance attributes (torch's state_dict `_metadata`), never
 * items, and APPEND on a tuple fails as it does in Python.
 */

export type PyKey = string | number | bigint | boolean | null;
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyKey, PyValue>
  | Set<PyValue>
  | PyObject;

/** Objects built by allow-listed globals. */
export type PyObject = TorchStorageRef | TorchTensorRef | TorchDevice | NumpyDType | NumpyArray | PyGlobal;

export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGE_DTYPES: Record<string, TorchDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

export const DTYPE_BYTES: Record<TorchDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** A global that was resolved from the allow-list (a class or a function, never executed). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * A `collections.OrderedDict`: items as a Map, plus the instance attributes that BUILD restores
 * (`OrderedDict.__reduce__` pickles `vars(self)` as state; torch's state_dict carries `_metadata` there).
 */
export class UnpickledOrderedDict extends Map<PyKey, PyValue> {
  readonly attributes = new Map<string, PyValue>();
}

/** Python tuples are immutable: frozen arrays, so APPEND/SETITEM on one fails as in CPython. */
function tuple(items: PyValue[]): PyValue[] {
  return Object.freeze(items) as PyValue[];
}

/** torch storage referenced by persistent id: bytes live in the zip entry `data/<key>`. */
export class TorchStorageRef {
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly location: string,
    readonly numel: number,
  ) {}
}

/** A tensor view on a storage (not yet materialized). */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorageRef,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}

export class TorchDevice {
  constructor(
    readonly type: string,
    readonly index: number | null,
  ) {}
}

export class NumpyDType {
  byteOrder: '<' | '>' | '|' | '=' = '=';
  constructor(readonly str: string) {}
}

export class NumpyArray {
  shape: number[] = [];
  dtype: NumpyDType | null = null;
  fortranOrder = false;
  data: Uint8Array | PyValue[] = new Uint8Array(0);
}

export class PickleError extends Error {}

type Ctor = (args: PyValue[]) => PyValue;

function int(v: PyValue, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new PickleError(`${what}: expected an int, got ${describe(v)}`);
}

function intList(v: PyValue, what: string): number[] {
  if (!Array.isArray(v)) throw new PickleError(`${what}: expected a tuple of ints, got ${describe(v)}`);
  return v.map((x, i) => int(x, `${what}[${i}]`));
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'tuple/list';
  if (v instanceof Map) return 'dict';
  if (typeof v === 'object') return v.constructor.name;
  return typeof v;
}

function dictKey(k: PyValue): PyKey {
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  throw new PickleError(`unsupported dict key type ${describe(k)}`);
}

function rebuildTensor(args: PyValue[], what: string): TorchTensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorageRef)) throw new PickleError(`${what}: first argument is not a storage`);
  const shape = intList(size ?? null, `${what} size`);
  const strides = intList(stride ?? null, `${what} stride`);
  if (shape.length !== strides.length) throw new PickleError(`${what}: size and stride differ in length`);
  return new TorchTensorRef(storage, int(offset ?? null, `${what} offset`), shape, strides, requiresGrad === true);
}

function numpyScalar(args: PyValue[]): PyValue {
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDType) || !(raw instanceof Uint8Array)) throw new PickleError('numpy scalar: expected (dtype, bytes)');
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const le = dtype.byteOrder !== '>';
  const kind = dtype.str.replace(/^[<>|=]/, '');
  const read: Record<string, () => PyValue> = {
    f8: () => dv.getFloat64(0, le),
    f4: () => dv.getFloat32(0, le),
    f2: () => halfToFloat(dv.getUint16(0, le)),
    i8: () => normalizeBig(dv.getBigInt64(0, le)),
    i4: () => dv.getInt32(0, le),
    i2: () => dv.getInt16(0, le),
    i1: () => dv.getInt8(0),
    u8: () => normalizeBig(dv.getBigUint64(0, le)),
    u4: () => dv.getUint32(0, le),
    u2: () => dv.getUint16(0, le),
    u1: () => dv.getUint8(0),
    b1: () => dv.getUint8(0) !== 0,
  };
  const f = read[kind];
  if (!f) throw new PickleError(`numpy scalar of dtype "${dtype.str}" is not supported`);
  if (raw.byteLength < Number(kind.slice(1))) throw new PickleError(`numpy scalar: ${raw.byteLength} bytes for dtype ${dtype.str}`);
  return f();
}

function normalizeBig(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Bytes as code points 0–255 (chunked: a spread of a long line would overflow the call stack). */
function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** IEEE 754 half → number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const TENSOR_TYPES = new Set(['torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter']);

/**
 * The allow-list: qualified global → pure data constructor (called for REDUCE / NEWOBJ).
 * Storage classes and tensor types are allowed as markers only (they are never called).
 */
const CONSTRUCTORS: Record<string, Ctor> = {
  'torch._utils._rebuild_tensor_v2': (a) => rebuildTensor(a, '_rebuild_tensor_v2'),
  'torch._utils._rebuild_tensor': (a) => rebuildTensor(a, '_rebuild_tensor'),
  'torch._utils._rebuild_parameter': (a) => {
    if (!(a[0] instanceof TorchTensorRef)) throw new PickleError('_rebuild_parameter: data is not a tensor');
    return a[0];
  },
  'torch._utils._rebuild_parameter_with_state': (a) => {
    if (!(a[0] instanceof TorchTensorRef)) throw new PickleError('_rebuild_parameter_with_state: data is not a tensor');
    return a[0];
  },
  'torch._tensor._rebuild_from_type_v2': (a) => {
    // (func, new_type, args, state): only plain rebuilders producing Tensor/Parameter are accepted
    const [func, type, args] = a;
    if (!(func instanceof PyGlobal) || !(type instanceof PyGlobal) || !TENSOR_TYPES.has(type.qualified))
      throw new PickleError('_rebuild_from_type_v2: only torch.Tensor / Parameter are supported');
    const ctor = CONSTRUCTORS[func.qualified];
    if (!ctor || !Array.isArray(args)) throw new PickleError(`_rebuild_from_type_v2: function ${func.qualified} not allowed`);
    return ctor(args);
  },
  'collections.OrderedDict': (a) => {
    // OrderedDict() (protocol ≥ 2 then SETITEMS), or OrderedDict([(k, v), …]) as protocols 0/1 write it
    const d = new UnpickledOrderedDict();
    if (a.length === 0) return d;
    const [pairs] = a;
    if (a.length !== 1 || !Array.isArray(pairs)) throw new PickleError('OrderedDict: expected no arguments or one list of pairs');
    for (const p of pairs) {
      if (!Array.isArray(p) || p.length !== 2) throw new PickleError('OrderedDict: an item is not a (key, value) pair');
      d.set(dictKey(p[0]!), p[1]!);
    }
    return d;
  },
  'builtins.set': (a) => new Set(Array.isArray(a[0]) ? a[0] : []),
  'builtins.frozenset': (a) => new Set(Array.isArray(a[0]) ? a[0] : []),
  '_codecs.encode': (a) => {
    // protocol 2 pickles bytes as _codecs.encode(str, 'latin1')
    const [s, enc] = a;
    if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new PickleError('_codecs.encode: only (str, "latin1") is supported');
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new PickleError('_codecs.encode: character outside latin1');
      out[i] = c;
    }
    return out;
  },
  'torch.device': (a) => {
    const [spec, index] = a;
    if (typeof spec !== 'string') throw new PickleError('torch.device: expected a string');
    const [type, idx] = spec.split(':');
    return new TorchDevice(type!, index !== undefined && index !== null ? int(index, 'torch.device index') : idx ? Number(idx) : null);
  },
  'numpy.dtype': (a) => {
    if (typeof a[0] !== 'string') throw new PickleError('numpy.dtype: expected a type string');
    return new NumpyDType(a[0]);
  },
  'numpy.core.multiarray.scalar': numpyScalar,
  'numpy._core.multiarray.scalar': numpyScalar,
  'numpy.core.multiarray._reconstruct': () => new NumpyArray(),
  'numpy._core.multiarray._reconstruct': () => new NumpyArray(),
};

const MARKERS = new Set([
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
  ...TENSOR_TYPES,
  'numpy.ndarray',
  'torch.storage.UntypedStorage',
  // postprocessing.pkl names nnU-Net's postprocessing function; read as a name, never called
  'nnunetv2.postprocessing.remove_connected_components.remove_all_but_largest_component_from_segmentation',
]);

/** Qualified names of every global the reader accepts. */
export const ALLOWED_GLOBALS: readonly string[] = [...Object.keys(CONSTRUCTORS), ...MARKERS].sort();

// MARK positions are kept on a separate stack (like CPython's metastack), not as stack items
type StackItem = PyValue;

function persistentLoad(pid: PyValue): PyValue {
  // torch: ('storage', storage_type, key, location, numel)
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
    throw new PickleError(`unsupported persistent id ${describe(pid)}; only torch storages are allowed`);
  const [, type, key, location, numel] = pid;
  let dtype: TorchDType | undefined;
  if (type instanceof PyGlobal && type.module === 'torch') dtype = STORAGE_DTYPES[type.name];
  if (!dtype) throw new PickleError(`unsupported storage type ${type instanceof PyGlobal ? type.qualified : describe(type ?? null)}`);
  if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key)) throw new PickleError(`invalid storage key ${String(key)}`);
  return new TorchStorageRef(key, dtype, typeof location === 'string' ? location : 'cpu', int(numel ?? null, 'storage numel'));
}

function setState(obj: PyValue, state: PyValue): void {
  if (obj instanceof NumpyDType) {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    if (Array.isArray(state) && typeof state[1] === 'string') obj.byteOrder = state[1] as NumpyDType['byteOrder'];
    return;
  }
  if (obj instanceof NumpyArray) {
    // (version, shape, dtype, is_fortran, rawdata)
    if (!Array.isArray(state) || state.length < 5) throw new PickleError('numpy array: unexpected state');
    obj.shape = intList(state[1]!, 'numpy array shape');
    if (!(state[2] instanceof NumpyDType)) throw new PickleError('numpy array: dtype missing');
    obj.dtype = state[2];
    obj.fortranOrder = state[3] === true;
    const raw = state[4];
    if (raw instanceof Uint8Array || Array.isArray(raw)) obj.data = raw;
    else if (typeof raw === 'string') obj.data = Uint8Array.from(raw, (c) => c.charCodeAt(0) & 0xff);
    else throw new PickleError('numpy array: unsupported data');
    return;
  }
  if (obj instanceof TorchTensorRef) return; // backward hooks / python state of a tensor: irrelevant
  if (obj instanceof UnpickledOrderedDict) {
    // CPython load_build without __setstate__: state is a dict for __dict__, or (state, slotstate);
    // both become attributes (setattr), never dict items
    let [dictState, slotState]: PyValue[] = [state, null];
    if (Array.isArray(state) && state.length === 2) [dictState, slotState] = state;
    for (const part of [dictState, slotState]) {
      if (part === null) continue;
      if (!(part instanceof Map)) throw new PickleError(`BUILD on OrderedDict: state is a ${describe(part)}, not a dict`);
      for (const [k, v] of part) {
        if (typeof k !== 'string') throw new PickleError('BUILD on OrderedDict: attribute name is not a string');
        obj.attributes.set(k, v);
      }
    }
    return;
  }
  // a plain dict, list, tuple or set has no __dict__: CPython's setattr fails there too
  throw new PickleError(`BUILD on ${describe(obj)} is not supported`);
}

/** Parse a pickle stream as data. */
export function unpickle(bytes: Uint8Array): PyValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  let pos = 0;
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();

  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) throw new PickleError(`truncated pickle at byte ${pos} (need ${n} more)`);
  };
  const u8 = (): number => (need(1), bytes[pos++]!);
  const u16 = (): number => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const u32 = (): number => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) throw new PickleError(`length ${v} exceeds the pickle size`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError('truncated pickle: missing newline');
    const s = latin1(bytes.subarray(pos, end)); // text opcodes: ASCII, or raw-unicode-escape (UNICODE)
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) throw new PickleError(`stack underflow at byte ${pos}`);
    const v = stack.pop()!;
    return v as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) throw new PickleError(`empty stack at byte ${pos}`);
    return stack[stack.length - 1] as PyValue;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) throw new PickleError(`MARK missing at byte ${pos}`);
    const items = stack.splice(m) as PyValue[];
    return items;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return normalizeBig(v);
  };
  const global = (module: string, name: string): PyValue => {
    const q = `${module}.${name}`;
    if (!(q in CONSTRUCTORS) && !MARKERS.has(q))
      throw new PickleError(`refusing to load global "${q}": not in the checkpoint allow-list (a checkpoint is parsed as data only)`);
    return new PyGlobal(module, name);
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal)) throw new PickleError(`cannot call ${describe(fn)}`);
    const ctor = CONSTRUCTORS[fn.qualified];
    if (!ctor) throw new PickleError(`global "${fn.qualified}" may not be called`);
    if (!Array.isArray(args)) throw new PickleError(`arguments of ${fn.qualified} are not a tuple`);
    return ctor(args);
  };
  const setItems = (d: PyValue, items: PyValue[]): void => {
    if (!(d instanceof Map)) throw new PickleError(`SETITEMS on ${describe(d)}`);
    if (items.length % 2) throw new PickleError('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) d.set(dictKey(items[i]!), items[i + 1]!);
  };
  const appendAll = (l: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(l) || Object.isFrozen(l)) throw new PickleError(`APPEND on ${describe(l)}`);
    for (const x of items) l.push(x);
  };
  const addAll = (s: PyValue, items: PyValue[]): void => {
    if (!(s instanceof Set)) throw new PickleError(`ADDITEMS on ${describe(s)}`);
    for (const x of items) s.add(x);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new PickleError('pickle protocol > 5 is not supported');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(signedLE(take(u32())));
        break;
      case 0x49: {
        // INT (text)
        const s = line();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else stack.push(normalizeBig(BigInt(s)));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(normalizeBig(BigInt(line().replace(/L$/, ''))));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())));
        break;
      case 0x56: {
        // UNICODE (text, raw-unicode-escape)
        const raw = line();
        stack.push(
          raw.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string | undefined, b: string | undefined) =>
            String.fromCodePoint(parseInt((a ?? b)!, 16)),
          ),
        );
        break;
      }
      case 0x54: // BINSTRING (py2 str): decoded with torch.load's default encoding="utf-8"
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendAll(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendAll(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const d = new Map<PyKey, PyValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        addAll(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET (text)
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(idx)) throw new PickleError(`memo key ${idx} missing at byte ${pos}`);
        stack.push(memo.get(idx)!);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs); no allow-listed class takes keyword arguments
        const kwargs = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) throw new PickleError('NEWOBJ_EX with keyword arguments is refused');
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        setState(top(), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      case 0x50: // PERSID (text)
        throw new PickleError('text persistent ids are not supported');
      case 0x69: // INST
      case 0x6f: // OBJ
        throw new PickleError(`opcode ${op === 0x69 ? 'INST' : 'OBJ'} (instantiate a class) is refused`);
      case 0x82:
      case 0x83:
      case 0x84:
        throw new PickleError('extension registry opcodes (EXT1/2/4) are refused');
      case 0x97:
      case 0x98:
        throw new PickleError('out-of-band buffers (protocol 5) are not supported');
      default:
        throw new PickleError(`unknown pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}

function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  // defineProperty: a "__proto__" key stays an own data property (no prototype pollution)
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/**
 * Most values a checkpoint's metadata may expand to. The memo lets a small pickle reference one object many
 * times (or itself), so a tree walk is bounded by count, not by the pickle's size.
 */
const MAX_JSON_NODES = 4_000_000;

/** Convert parsed pickle data to JSON-like values (dicts → objects, tuples → arrays). */
export function pyToJson(v: PyValue, budget = { left: MAX_JSON_NODES }): unknown {
  if (--budget.left < 0) throw new Error(`checkpoint metadata expands to more than ${MAX_JSON_NODES} values (shared or cyclic references): refused`);
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map((x) => pyToJson(x, budget));
  if (v instanceof Set) return [...v].map((x) => pyToJson(x, budget));
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) setKey(o, String(k), pyToJson(x, budget));
    return o;
  }
  if (v instanceof TorchDevice) return v.index === null ? v.type : `${v.type}:${v.index}`;
  if (v instanceof TorchTensorRef) return { tensor: { dtype: v.storage.dtype, shape: v.shape } };
  if (v instanceof TorchStorageRef) return { storage: v.key };
  if (v instanceof NumpyArray) return { ndarray: { dtype: v.dtype?.str ?? null, shape: v.shape } };
  if (v instanceof NumpyDType) return v.str;
  if (v instanceof PyGlobal) return v.qualified;
  return null;
}
