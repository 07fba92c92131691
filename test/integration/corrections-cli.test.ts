/** `nnseg corrections list | delete | prune` through the built command, on corrections POSTed to a real server. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sendCorrection } from '../../extension/src/correction.js';
import type { CorrectionHeader } from '../../server/src/contract/corrections.js';
import { ScriptedQueue } from '../unit/api/scripted-queue.js';
import { TOKENS, startTestServer, type TestServer } from './server-harness.js';
import { within } from '../helpers/patience.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer(new ScriptedQueue());
});
afterAll(() => srv.stop());

const header = (series: string): CorrectionHeader => ({ version: 1, model: 'm', studyInstanceUID: '1.2.3', seriesInstanceUID: series, shape: [1, 2, 2], labels: { background: 0, organ: 1 } });
const cli = (...args: string[]) => run('node', [CLI, 'corrections', ...args, '--work-dir', join(srv.dir, 'work')], { cwd: srv.dir });

describe('nnseg corrections list | delete | prune', () => {
  it('lists, deletes by id (refusing unknown ids), and prunes by age', async () => {
    for (const s of ['1.2.3.1', '1.2.3.2', '1.2.3.3']) await sendCorrection(srv.url, TOKENS.annotator, header(s), Uint8Array.of(0, 1, 1, 0));
    const listed = JSON.parse((await cli('list', '--json')).stdout) as { corrections: { id: string; header: CorrectionHeader; subject: string }[]; broken: unknown[] };
    expect(listed.corrections.map((c) => c.header.seriesInstanceUID)).toEqual(['1.2.3.1', '1.2.3.2', '1.2.3.3']);
    expect(listed.broken).toEqual([]);
    const ids = listed.corrections.map((c) => c.id);
    const text = await cli('list');
    expect(text.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    expect(text.stdout).toContain(`${ids[0]}  `);
    expect(text.stderr).toMatch(/^3 correction\(s\) in .*corrections$/m);

    await expect(cli('delete', ids[0], '00000000-0000-4000-8000-000000000000')).rejects.toThrow(/no stored correction 00000000-0000-4000-8000-000000000000 .*\(nothing deleted\)/);
    await cli('delete', ids[0]);
    expect(JSON.parse((await cli('list', '--json')).stdout).corrections.map((c: { id: string }) => c.id)).toEqual(ids.slice(1));

    expect((await cli('prune', '--older-than', '1')).stderr).toMatch(/^0 correction\(s\) older than 1 day/m);
    const dry = await cli('prune', '--older-than', '0', '--dry-run');
    expect(dry.stdout).toContain(`would delete ${ids[1]}`);
    expect(JSON.parse((await cli('list', '--json')).stdout).corrections).toHaveLength(2);
    const pruned = await cli('prune', '--older-than', '0');
    expect(pruned.stdout.split('\n').filter(Boolean)).toEqual([expect.stringMatching(`^deleted ${ids[1]}`), expect.stringMatching(`^deleted ${ids[2]}`)]);
    expect((await fetch(`${srv.url}/api/corrections`, { headers: { Authorization: `Bearer ${TOKENS.admin}` } }).then((r) => r.json())) as unknown).toEqual({ corrections: [], broken: [] });
    await expect(cli('prune', '--older-than', 'soon')).rejects.toThrow(/--older-than must be a number of days ≥ 0, got "soon"/);
  }, within(60000));
});
