import type { Command } from 'commander';
import { startServer } from '../../api/start-server.js';
import { loadServerConfig } from '../../config/server-config.js';
import { prepareDemo } from '../../demo/demo-setup.js';
import { ModelStore } from '../../models/model-store.js';
import { viewerMounts } from '../../viewer/server-mount.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the companion server: WebSocket /ws for the viewer, HTTP API (models, jobs, health, metrics, OpenAPI)')
    .option('--port <n>', 'port (default 8000; env NNSEG_PORT)')
    .option('--host <address>', 'address to listen on (default 127.0.0.1; env NNSEG_HOST)')
    .option('--config <file>', 'server config JSON (default ./nnseg.config.json if present; env NNSEG_CONFIG)')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models)')
    .option('--work-dir <folder>', 'upload spools, job journal (default <tmp>/nnseg-server; env NNSEG_WORK_DIR)')
    .option('--demo', 'first-run default: import the demo model, write a phantom CT study to open in the viewer, and on a loopback address without tokens let the local browser in as annotator')
    .addHelpText(
      'after',
      `
Environment: NNSEG_PORT, NNSEG_HOST, NNSEG_TOKENS (token:role:subject[:expiresAt],…; roles viewer, annotator, admin),
NNSEG_ORIGINS (comma-separated browser origins), NNSEG_REDIS_URL (use the BullMQ queue), NNSEG_PACS_URL (DICOMweb),
NNSEG_MODEL_STORE, NNSEG_WORK_DIR, NNSEG_CONFIG. See docs/server.md.`,
    )
    .action(async (o: { port?: string; host?: string; config?: string; store?: string; workDir?: string; demo?: boolean }) => {
      const config = loadServerConfig(o.config);
      if (o.port !== undefined) {
        const port = Number(o.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${o.port} is not a port number`);
        config.port = port;
      }
      if (o.host !== undefined) config.host = o.host;
      if (o.store !== undefined) config.store = o.store;
      if (o.workDir !== undefined) config.workDir = o.workDir;
      let demoNote: ((url: string) => string) | undefined;
      if (o.demo) {
        const demo = await prepareDemo(new ModelStore(config.store), config.workDir);
        const loopback = ['127.0.0.1', 'localhost', '::1'].includes(config.host);
        if (config.tokens.length === 0 && config.anonymousRole === null && loopback) config.anonymousRole = 'annotator';
        demoNote = (url: string) =>
          `nnseg serve --demo: model "${demo.modelName}"${demo.imported ? ' imported' : ''}; demo CT study in ${demo.studyFolder}\n` +
          `  open ${url}/local, drop that folder's .dcm files on the page, open the study in the nnseg mode and Segment with "${demo.modelName}"\n`;
      }
      if (config.tokens.length === 0 && config.anonymousRole === null)
        process.stderr.write('nnseg serve: no tokens configured (NNSEG_TOKENS or "tokens" in the config): every client will be refused\n');
      const running = await startServer(config, { mount: viewerMounts(config) });
      process.stdout.write(`nnseg serve: listening on ${running.url} (WebSocket ${running.url.replace(/^http/, 'ws')}/ws)\n`);
      if (demoNote) process.stdout.write(demoNote(running.url));
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals > 1) process.exit(1);
        process.stderr.write(`nnseg serve: ${sig}: stopping (running jobs are recorded as interrupted)\n`);
        running.stop().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`nnseg serve: error while stopping: ${(e as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await new Promise<never>(() => {});
    });
}
