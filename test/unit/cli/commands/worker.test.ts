/** `nnseg worker`: registered with a description and --help, and refuses to start without a Redis URL. */
import { Command } from 'commander';
import { COMMANDS } from '../../../../server/src/cli/commands/index.js';
import { register } from '../../../../server/src/cli/commands/worker.js';

function program(): Command {
  const p = new Command().exitOverride();
  register(p);
  return p;
}

describe('nnseg worker', () => {
  it('is registered and documents its options', () => {
    expect(COMMANDS).toContain(register);
    const worker = program().commands.find((c) => c.name() === 'worker')!;
    expect(worker.description()).toMatch(/Redis/);
    let help = '';
    worker.configureOutput({ writeOut: (s) => (help += s) });
    worker.outputHelp();
    for (const o of ['--redis', '--store', '--concurrency', '--threads', '--device', '--queue', '--memory-budget']) expect(help).toContain(o);
    expect(help).toMatch(/docs\/jobs\.md/);
  });

  it('refuses to start without a Redis URL and checks its numbers', async () => {
    const saved = process.env.NNSEG_REDIS_URL;
    delete process.env.NNSEG_REDIS_URL;
    try {
      await expect(program().parseAsync(['node', 'nnseg', 'worker', '--config', '/nonexistent-nnseg.json'])).rejects.toThrow(/nonexistent-nnseg.json: config file not found/);
      await expect(program().parseAsync(['node', 'nnseg', 'worker'])).rejects.toThrow(/no Redis URL/);
      await expect(program().parseAsync(['node', 'nnseg', 'worker', '--redis', 'redis://127.0.0.1:1', '--concurrency', '0'])).rejects.toThrow(/--concurrency/);
      await expect(program().parseAsync(['node', 'nnseg', 'worker', '--redis', 'redis://127.0.0.1:1', '--device', 'tpu'])).rejects.toThrow(/--device/);
    } finally {
      if (saved !== undefined) process.env.NNSEG_REDIS_URL = saved;
    }
  });
});
