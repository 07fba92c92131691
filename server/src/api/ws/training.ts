/**
 * Train jobs on one socket (admin only): `train` starts one and follows it, `trainingControl` subscribes,
 * unsubscribes, cancels or resumes; every change goes out as `trainingUpdate` (the first carries the requestId).
 */
import type { TrainingControlMessage, TrainMessage } from '../../contract/protocol.js';
import { TrainingJobError, type TrainingUpdate } from '../../jobs/training/training-jobs.js';
import { roleAllows } from '../auth.js';
import type { SessionPort } from './port.js';

export class TrainingHandler {
  /** train jobs this socket follows → unsubscribe */
  private readonly subscriptions = new Map<string, () => void>();

  constructor(private readonly s: SessionPort) {}

  on(m: TrainMessage | TrainingControlMessage): void {
    const { s } = this;
    const rid = m.requestId !== undefined ? { requestId: m.requestId } : {};
    const training = s.deps.training;
    if (!training) {
      s.fail('BAD_STATE', 'this server does not run train jobs', rid);
      return;
    }
    const principal = s.principal!;
    if (!roleAllows(principal.role, 'admin')) {
      s.fail('FORBIDDEN', `${m.type} needs the admin role; the token of "${principal.subject}" has ${principal.role}`, rid);
      return;
    }
    const follow = (id: string) => {
      this.subscriptions.get(id)?.();
      let first = true;
      const off = training.subscribe(id, (u: TrainingUpdate) => {
        s.send({ type: 'trainingUpdate', ...(first ? rid : {}), training: u.training, epochs: u.epochs });
        first = false;
      });
      if (off) this.subscriptions.set(id, off);
      return off !== undefined;
    };
    try {
      if (m.type === 'train') {
        follow(training.start(m.request, principal.subject).id);
        return;
      }
      const id = m.trainingId;
      if (m.action === 'unsubscribe') {
        this.subscriptions.get(id)?.();
        this.subscriptions.delete(id);
        return;
      }
      if (m.action === 'cancel') training.cancel(id);
      else if (m.action === 'resume') training.resume(id);
      // cancel/resume answer with the new state; a follower keeps getting updates
      if (m.action !== 'subscribe' && this.subscriptions.has(id)) {
        s.send({ type: 'trainingUpdate', ...rid, training: training.summary(id)!, epochs: [] });
        return;
      }
      if (!follow(id)) s.fail('UNKNOWN_JOB', `no train job ${id}`, rid);
    } catch (e) {
      if (e instanceof TrainingJobError) s.fail(e.code, e.message, rid);
      else throw e;
    }
  }

  /** The socket closed: stop following. */
  close(): void {
    for (const off of this.subscriptions.values()) off();
    this.subscriptions.clear();
  }
}
