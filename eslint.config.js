import tseslint from 'typescript-eslint';

/**
 * The server's layers, lowest first (docs/architecture.md). A folder of server/src may import its own files
 * and the folders of lower layers, never a folder of its own or a higher layer: imports run one way.
 */
export const SERVER_LAYERS = [
  ['contract', 'formats', 'imaging'],
  ['nnunet', 'dicom', 'corrections', 'workers'],
  ['engines', 'io'],
  ['models', 'pipelines'],
  ['training'],
  ['jobs'],
  ['pacs', 'config'],
  ['api'],
  ['viewer', 'demo'],
  ['cli'],
];
/** Pure computation: no file, network or thread I/O (unit-tested on small arrays). */
const PURE = ['contract', 'imaging', 'nnunet'];
const NODE_IO = ['fs', 'fs/promises', 'net', 'http', 'https', 'child_process', 'worker_threads', 'dgram', 'tls'].flatMap((m) => [m, `node:${m}`]);
const MAX_DEPTH = 5;

function layerRules() {
  const blocks = [];
  SERVER_LAYERS.forEach((layer, rank) => {
    const forbidden = SERVER_LAYERS.slice(rank).flat();
    for (const folder of layer) {
      const others = forbidden.filter((f) => f !== folder);
      for (let depth = 1; depth <= MAX_DEPTH; depth++) {
        const up = `(\\.\\./){${depth}}`;
        const patterns = [
          {
            regex: `^${up}(${others.join('|')})/`,
            message: `${folder}/ is in layer ${rank}: it may import only lower layers (eslint.config.js SERVER_LAYERS, docs/architecture.md).`,
          },
          { regex: `^(\\.\\./){${depth + 1},}`, message: 'server code imports nothing outside server/src.' },
        ];
        const rule = { patterns };
        if (PURE.includes(folder)) rule.paths = NODE_IO.map((name) => ({ name, message: `${folder}/ is pure computation: no I/O here.` }));
        blocks.push({
          files: [`server/src/${folder}/${'*/'.repeat(depth - 1)}*.ts`],
          rules: { 'no-restricted-imports': ['error', rule] },
        });
      }
    }
  });
  return blocks;
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.cache/**', 'coverage/**', 'extension/build/**', 'modes/*/build/**', '.nnseg-work/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  ...layerRules(),
  {
    // the browser side shares the wire contract with the server, and nothing else of it
    files: ['extension/src/**/*.ts', 'modes/*/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: 'server/src/(?!contract/)', message: 'the viewer imports only server/src/contract (the wire contract).' }] },
      ],
    },
  },
);
