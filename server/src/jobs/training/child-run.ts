/**
 * One `nnseg` child process of a train job: spawned with the server's Node, stdout read as training events,
 * the last stderr lines kept as the error's context, stopped with SIGTERM and, after a grace, SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseTrainingEvent, type TrainingEvent } from '../../contract/training-events.js';

/** progress-bar lines of the CLI, not worth keeping as an error's context */
const PROGRESS_LINE = /^\S[^\n]* \d+\/\d+ \(\d+%/;
const TAIL_LINES = 20;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the last stderr lines (progress bars left out) */
  tail: string;
}

export interface ChildRunOptions {
  /** the `nnseg` CLI script (server/dist/cli/main.js) */
  cli: string;
  env?: NodeJS.ProcessEnv;
  /** SIGTERM → SIGKILL grace when stopped (default 10 s) */
  killGraceMs?: number;
  /** a stdout line that is not a valid event */
  onBadEvent?: (reason: string) => void;
}

/** A run of a job (a resume is a new run; the old one may still be exiting). */
export class ChildRun {
  private child?: ChildProcess;
  /** cancelled or interrupted: the run's own outcome is ignored */
  stopped = false;

  constructor(private readonly o: ChildRunOptions) {}

  /** Runs `nnseg <args>` to its end (stdout lines are training events when `onEvent` is given); rejects only when the process cannot start. */
  exec(args: string[], onEvent?: (e: TrainingEvent) => void): Promise<ChildExit> {
    return new Promise((resolveRun, reject) => {
      const child = spawn(process.execPath, [this.o.cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.o.env } });
      this.child = child;
      if (this.stopped) this.stop();
      const tail: string[] = [];
      createInterface({ input: child.stderr! }).on('line', (line) => {
        if (PROGRESS_LINE.test(line) || line.trim() === '') return;
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!onEvent || line.trim() === '') return;
        try {
          onEvent(parseTrainingEvent(line));
        } catch (e) {
          this.o.onBadEvent?.((e as Error).message);
        }
      });
      child.on('error', (e) => {
        this.child = undefined;
        reject(new Error(`could not start nnseg (${this.o.cli}): ${e.message}`));
      });
      child.on('close', (code, signal) => {
        this.child = undefined;
        resolveRun({ code, signal, tail: tail.join('\n').slice(-4000) });
      });
    });
  }

  /** Marks the run stopped and ends its child: SIGTERM now, SIGKILL after the grace. */
  stop(): void {
    this.stopped = true;
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, this.o.killGraceMs ?? 10_000);
    t.unref();
    child.once('close', () => clearTimeout(t));
  }
}
