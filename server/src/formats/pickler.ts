/**
 * Minimal pickle writer, protocol 2 as torch.save emits it: memoized containers and strings (BINPUT),
 * tensors as `torch._utils._rebuild_tensor_v2(BINPERSID storage, offset, size, stride, False, OrderedDict())`,
 * bytes as `_codecs.encode(str, 'latin1')`.
 *
 * Value model: null, boolean, integer numbers/bigint → int, other numbers or PyFloat → float, string,
 * Uint8Array → bytes, arrays → list, PyTuple → tuple, Map / plain objects → dict, PyOrderedDict → OrderedDict,
 * WriteTensor → tensor (tensors sharing one Float32Array share one storage, like state_dict aliases),
 * WriteDevice → torch.device.
 */

export class PyFloat {
  constructor(readonly value: number) {}
}
export class PyTuple {
  constructor(readonly items: WriteValue[]) {}
}
export class PyOrderedDict {
  constructor(readonly entries: Map<string | number, WriteValue>) {}
}
export class WriteTensor {
  constructor(
    readonly data: Float32Array,
    readonly shape: number[],
  ) {}
}
/** A reference to a Python global (module + name), pickled as GLOBAL; e.g. a function nnU-Net stores by name. */
export class WriteGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}
export class WriteDevice {
  constructor(readonly type: string) {}
}

export type WriteValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyTuple
  | PyOrderedDict
  | WriteTensor
  | WriteDevice
  | WriteGlobal
  | WriteValue[]
  | Map<string | number, WriteValue>
  | { [k: string]: WriteValue };

class Out {
  private buf = new Uint8Array(1 << 16);
  len = 0;
  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(...b: number[]): void {
    this.grow(b.length);
    for (const x of b) this.buf[this.len++] = x;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u32(v: number): void {
    this.byte(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const enc = new TextEncoder();

/** Storage assigned to a tensor's array while pickling: key and element count. */
export interface StorageEntry {
  key: string;
  data: Float32Array;
}

export class Pickler {
  private readonly out = new Out();
  private memoCount = 0;
  private readonly memoObj = new Map<object, number>();
  private readonly memoStr = new Map<string, number>();
  readonly storages: StorageEntry[] = [];
  private readonly storageKeys = new Map<ArrayBufferLike, Map<number, string>>();

  dump(v: WriteValue): Uint8Array {
    this.out.byte(0x80, 2); // PROTO 2
    this.save(v);
    this.out.byte(0x2e); // STOP
    return this.out.result();
  }

  private put(): void {
    const i = this.memoCount++;
    if (i < 256) this.out.byte(0x71, i);
    else {
      this.out.byte(0x72);
      this.out.u32(i);
    }
  }

  private get(i: number): void {
    if (i < 256) this.out.byte(0x68, i);
    else {
      this.out.byte(0x6a);
      this.out.u32(i);
    }
  }

  private memoized(o: object): boolean {
    const i = this.memoObj.get(o);
    if (i === undefined) return false;
    this.get(i);
    return true;
  }

  private remember(o: object): void {
    this.memoObj.set(o, this.memoCount);
    this.put();
  }

  private str(s: string): void {
    const i = this.memoStr.get(s);
    if (i !== undefined) return this.get(i);
    const b = enc.encode(s);
    this.out.byte(0x58); // BINUNICODE
    this.out.u32(b.length);
    this.out.bytes(b);
    this.memoStr.set(s, this.memoCount);
    this.put();
  }

  private global(module: string, name: string): void {
    const key = `\0global:${module}.${name}`;
    const i = this.memoStr.get(key);
    if (i !== undefined) return this.get(i);
    this.out.byte(0x63);
    this.out.bytes(enc.encode(`${module}\n${name}\n`));
    this.memoStr.set(key, this.memoCount);
    this.put();
  }

  private int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 256) this.out.byte(0x4b, v);
    else if (typeof v === 'number' && v >= 0 && v < 65536) this.out.byte(0x4d, v & 255, v >> 8);
    else if (typeof v === 'number' && v >= -(2 ** 31) && v < 2 ** 31) {
      this.out.byte(0x4a);
      this.out.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement, minimal length
      let b = BigInt(v);
      const bytes: number[] = [];
      for (;;) {
        const byte = Number(b & 255n);
        bytes.push(byte);
        b >>= 8n;
        if ((b === 0n && !(byte & 0x80)) || (b === -1n && byte & 0x80)) break;
      }
      this.out.byte(0x8a, bytes.length, ...bytes);
    }
  }

  private float(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.out.byte(0x47);
    this.out.bytes(b);
  }

  private tuple(items: WriteValue[]): void {
    if (items.length === 0) {
      this.out.byte(0x29);
      return;
    }
    if (items.length <= 3) {
      items.forEach((x) => this.save(x));
      this.out.byte([0x85, 0x86, 0x87][items.length - 1]!);
    } else {
      this.out.byte(0x28);
      items.forEach((x) => this.save(x));
      this.out.byte(0x74);
    }
    this.put();
  }

  private dictItems(entries: Iterable<[string | number, WriteValue]>): void {
    const list = [...entries];
    // SETITEMS in batches of 1000 like CPython
    for (let i = 0; i < list.length; i += 1000) {
      const batch = list.slice(i, i + 1000);
      if (batch.length === 1) {
        this.save(batch[0]![0]);
        this.save(batch[0]![1]);
        this.out.byte(0x73); // SETITEM
      } else {
        this.out.byte(0x28);
        for (const [k, v] of batch) {
          this.save(k);
          this.save(v);
        }
        this.out.byte(0x75);
      }
    }
  }

  private storageKey(data: Float32Array): string {
    let byOffset = this.storageKeys.get(data.buffer);
    if (!byOffset) this.storageKeys.set(data.buffer, (byOffset = new Map()));
    let key = byOffset.get(data.byteOffset);
    if (key === undefined) {
      key = String(this.storages.length);
      byOffset.set(data.byteOffset, key);
      this.storages.push({ key, data });
    }
    return key;
  }

  private tensor(t: WriteTensor): void {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new Error(`tensor of shape [${t.shape.join(', ')}] has ${t.data.length} values`);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.out.byte(0x28); // MARK (args tuple has 6 items)
    // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
    this.out.byte(0x28);
    this.str('storage');
    this.global('torch', 'FloatStorage');
    this.str(this.storageKey(t.data));
    this.str('cpu');
    this.int(t.data.length);
    this.out.byte(0x74);
    this.put();
    this.out.byte(0x51); // BINPERSID
    this.int(0);
    const strides: number[] = [];
    for (let a = t.shape.length - 1, s = 1; a >= 0; a--) {
      strides[a] = s;
      s *= t.shape[a]!;
    }
    this.tuple(t.shape);
    this.tuple(strides);
    this.out.byte(0x89); // requires_grad False
    this.global('collections', 'OrderedDict');
    this.out.byte(0x29, 0x52); // () REDUCE
    this.put();
    this.out.byte(0x74); // TUPLE
    this.put();
    this.out.byte(0x52); // REDUCE
    this.put();
  }

  save(v: WriteValue): void {
    if (v === null) return this.out.byte(0x4e);
    if (v === true) return this.out.byte(0x88);
    if (v === false) return this.out.byte(0x89);
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (this.memoized(v)) return;
    if (v instanceof Uint8Array) {
      this.global('_codecs', 'encode');
      this.str(String.fromCharCode(...v));
      this.str('latin1');
      this.out.byte(0x86);
      this.put();
      this.out.byte(0x52);
      return this.remember(v);
    }
    if (v instanceof PyTuple) {
      this.tuple(v.items);
      if (v.items.length) this.memoObj.set(v, this.memoCount - 1);
      return;
    }
    if (v instanceof WriteTensor) {
      this.tensor(v);
      this.memoObj.set(v, this.memoCount - 1);
      return;
    }
    if (v instanceof WriteGlobal) return this.global(v.module, v.name);
    if (v instanceof WriteDevice) {
      this.global('torch', 'device');
      this.str(v.type);
      this.out.byte(0x85);
      this.put();
      this.out.byte(0x52);
      return this.remember(v);
    }
    if (v instanceof PyOrderedDict) {
      this.global('collections', 'OrderedDict');
      this.out.byte(0x29, 0x52); // OrderedDict()
      this.remember(v);
      this.dictItems(v.entries);
      return;
    }
    if (Array.isArray(v)) {
      this.out.byte(0x5d);
      this.remember(v);
      if (v.length === 1) {
        this.save(v[0]!);
        this.out.byte(0x61);
      } else if (v.length > 1) {
        this.out.byte(0x28);
        v.forEach((x) => this.save(x));
        this.out.byte(0x65);
      }
      return;
    }
    this.out.byte(0x7d);
    this.remember(v);
    this.dictItems(v instanceof Map ? v.entries() : Object.entries(v));
  }
}
