import { createServer, type Server } from 'node:http';
import { buildStatus, pacsStatusHandler, PacsStatusSchema } from '../../../server/src/pacs/status.js';

describe('pacsStatusHandler', () => {
  let server: Server;
  afterEach(() => new Promise((r) => server.close(r)));

  it('answers the current status as schema-valid JSON, uncached', async () => {
    let calls = 0;
    const handler = pacsStatusHandler(() => {
      calls++;
      return buildStatus({ running: true, source: 'orthanc-changes', watermark: String(calls), pending: 0, inFlight: 0, records: [] });
    });
    server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    const url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/status`;
    const first = await fetch(url);
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(PacsStatusSchema.parse(await first.json()).watermark).toBe('1');
    expect(((await (await fetch(url)).json()) as { watermark: string }).watermark).toBe('2');
  });
});
