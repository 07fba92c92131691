import { PickleError, PyGlobal, UnpickledOrderedDict, unpickle, ALLOWED_GLOBALS, type PyValue } from '../../../server/src/formats/pickle.js';
import { Pickler, PyFloat, PyOrderedDict, PyTuple } from '../../../server/src/formats/pickler.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

// pickle.dumps({'a':[1,-2,3.5,None,True,False],'b':('x',2**70,-2**70,-300,70000,-2**31),'c':b'\x00\xff',
//               'd':{1:'one'},'e':'é€'}, protocol=p) from CPython 3.11
const SAMPLE: Record<number, string> = {
  0: '286470300a56610a70310a286c70320a49310a61492d320a6146332e350a614e614930310a614930300a617356620a70330a2856780a70340a4c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a492d3330300a4937303030300a492d323134373438333634380a7470350a7356630a70360a635f636f646563730a656e636f64650a70370a28565c7530303030ff0a70380a566c6174696e310a70390a747031300a527031310a7356640a7031320a28647031330a49310a566f6e650a7031340a737356650a7031350a56e95c75323061630a7031360a732e',
  2: '80027d71002858010000006171015d7102284b014afeffffff47400c0000000000004e88896558010000006271032858010000007871048a090000000000000000408a090000000000000000c04ad4feffff4a701101004a000000807471055801000000637106635f636f646563730a656e636f64650a7107580300000000c3bf710858060000006c6174696e31710986710a52710b580100000064710c7d710d4b0158030000006f6e65710e73580100000065710f5805000000c3a9e282ac7110752e',
  4: '80049574000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e8889658c016294288c0178948a090000000000000000408a090000000000000000c04ad4feffff4a701101004a0000008074948c016394430200ff948c0164947d944b018c036f6e6594738c0165948c05c3a9e282ac94752e',
  5: '80059574000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e8889658c016294288c0178948a090000000000000000408a090000000000000000c04ad4feffff4a701101004a0000008074948c016394430200ff948c0164947d944b018c036f6e6594738c0165948c05c3a9e282ac94752e',
};

describe('pickle reader (data only)', () => {
  it.each([0, 2, 4, 5])('reads CPython protocol %i exactly', (p) => {
    const v = unpickle(hex(SAMPLE[p]!)) as Map<string, PyValue>;
    expect(v).toBeInstanceOf(Map);
    expect(v.get('a')).toEqual([1, -2, 3.5, null, true, false]);
    expect(v.get('b')).toEqual(['x', 2n ** 70n, -(2n ** 70n), -300, 70000, -(2 ** 31)]);
    expect(v.get('c')).toEqual(new Uint8Array([0, 255]));
    expect(v.get('d')).toEqual(new Map([[1, 'one']]));
    expect(v.get('e')).toBe('é€');
  });

  it('resolves memo references to the same object (BINGET)', () => {
    // s=[1,2]; pickle.dumps([s,s], protocol=2)
    const v = unpickle(hex('80025d7100285d7101284b014b02656801652e')) as PyValue[][];
    expect(v).toEqual([[1, 2], [1, 2]]);
    expect(v[0]).toBe(v[1]);
  });

  it('reads OrderedDict (STACK_GLOBAL) and sets (protocol 4)', () => {
    expect(unpickle(hex('80049529000000000000008c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01732e'))).toEqual(
      new UnpickledOrderedDict([['k', 1]]),
    );
    expect(unpickle(hex('80049509000000000000008f94284b014b02902e'))).toEqual(new Set([1, 2]));
  });

  it('refuses a global outside the allow-list, naming it, without executing anything', () => {
    // GLOBAL 'posix system', ('echo',), REDUCE
    const evil = hex('800263706f7369780a73797374656d0a710058040000006563686f71018571025271032e');
    expect(() => unpickle(evil)).toThrow(/refusing to load global "posix\.system"/);
    // builtins.eval via STACK_GLOBAL
    const viaStack = hex('80048c086275696c74696e73948c046576616c9493942e');
    expect(() => unpickle(viaStack)).toThrow(/"builtins\.eval"/);
  });

  it('refuses INST/OBJ and rejects truncated or malformed streams with a clear error', () => {
    expect(() => unpickle(hex('286f2e'))).toThrow(/OBJ/);
    expect(() => unpickle(hex('8002580a000000616263'))).toThrow(/truncated pickle/);
    expect(() => unpickle(hex('8002ff'))).toThrow(/unknown pickle opcode 0xff/);
    expect(() => unpickle(hex('80026805'))).toThrow(/memo key 5 missing/);
    expect(() => unpickle(hex('2e'))).toThrow(PickleError);
  });

  it('allow-list holds the torch rebuilders and no executable builtins', () => {
    expect(ALLOWED_GLOBALS).toContain('torch._utils._rebuild_tensor_v2');
    expect(ALLOWED_GLOBALS).toContain('collections.OrderedDict');
    expect(ALLOWED_GLOBALS).toContain('torch.FloatStorage');
    for (const bad of ['builtins.eval', 'builtins.exec', 'builtins.getattr', 'os.system', 'posix.system', 'subprocess.Popen'])
      expect(ALLOWED_GLOBALS).not.toContain(bad);
  });

  it('round-trips the pickler output (protocol 2) through the reader', () => {
    const shared = [1, 2];
    const v = new Map<string, unknown>([
      ['ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 40, -(2 ** 40), 2n ** 80n]],
      ['floats', [new PyFloat(1), 0.5, -1e-300, Infinity]],
      ['tuple', new PyTuple([1, 'a', null, true, false])],
      ['od', new PyOrderedDict(new Map([['x', 1]]))],
      ['bytes', new Uint8Array([0, 1, 200, 255])],
      ['shared', [shared, shared]],
      ['text', 'ünïcode €'],
    ]);
    const back = unpickle(new Pickler().dump(v as never)) as Map<string, PyValue>;
    expect(back.get('ints')).toEqual([0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 40, -(2 ** 40), 2n ** 80n]);
    expect(back.get('floats')).toEqual([1, 0.5, -1e-300, Infinity]);
    expect(back.get('tuple')).toEqual([1, 'a', null, true, false]);
    expect(back.get('od')).toEqual(new UnpickledOrderedDict([['x', 1]]));
    expect(back.get('bytes')).toEqual(new Uint8Array([0, 1, 200, 255]));
    const sh = back.get('shared') as PyValue[];
    expect(sh[0]).toBe(sh[1]);
    expect(back.get('text')).toBe('ünïcode €');
    expect(new PyGlobal('a', 'b').qualified).toBe('a.b');
  });

  // od = OrderedDict([('w', 1), ('b', 2)]); od._metadata = OrderedDict([('', {'version': 1})]) — what a torch
  // state_dict is: pickle.dumps(od, protocol=p) from CPython 3.11 restores `_metadata` through BUILD
  const OD_WITH_ATTRIBUTES: Record<number, string> = {
    0: '63636f6c6c656374696f6e730a4f726465726564446963740a70300a28745270310a56770a70320a49310a7356620a70330a49320a73286470340a565f6d657461646174610a70350a67300a28745270360a560a70370a286470380a5676657273696f6e0a70390a49310a737373622e',
    2: '800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000007771024b0158010000006271034b02757d710458090000005f6d657461646174617105680029527106580000000071077d7108580700000076657273696f6e71094b01737373622e',
    4: '80049558000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0177944b018c0162944b02757d948c095f6d657461646174619468022952948c00947d948c0776657273696f6e944b01737373622e',
  };
  it.each([0, 2, 4])('BUILD on an OrderedDict sets attributes, never items (CPython protocol %i)', (p) => {
    const od = unpickle(hex(OD_WITH_ATTRIBUTES[p]!));
    expect(od).toBeInstanceOf(UnpickledOrderedDict);
    const d = od as UnpickledOrderedDict;
    expect([...d.keys()]).toEqual(['w', 'b']);
    const meta = d.attributes.get('_metadata');
    expect(meta).toBeInstanceOf(UnpickledOrderedDict);
    expect((meta as UnpickledOrderedDict).get('')).toEqual(new Map([['version', 1]]));
  });

  it('fails where CPython fails: BUILD on a plain dict, APPEND to a tuple, ADDITEMS on a list, NEWOBJ_EX kwargs', () => {
    expect(() => unpickle(hex('80027d7d622e'))).toThrow(/BUILD on dict/); // {} then BUILD {}
    expect(() => unpickle(hex('8002294b01612e'))).toThrow(/APPEND on tuple/); // () then APPEND 1
    expect(() => unpickle(hex('80045d28904b01902e'))).toThrow(/ADDITEMS on tuple\/list/); // [] MARK ADDITEMS
    // OrderedDict.__new__(OrderedDict, *(), **{'x': 1})
    expect(() => unpickle(hex('80048c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394297d8c01784b017392942e'))).toThrow(
      /keyword arguments/,
    );
  });
});
