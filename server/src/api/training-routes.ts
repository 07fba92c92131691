/**
 * Train jobs over HTTP (admin role): start, list, read (with the learning curve), cancel, resume. The same
 * TrainingJobs also serves the WebSocket's `train` / `trainingControl` messages, which stream each epoch.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { TrainingJobError, type TrainingJobs } from '../jobs/training/training-jobs.js';
import type { Principal } from './auth.js';
import type { Logger } from './hub.js';
import type { ErrorCode, Role } from '../contract/protocol.js';

type AuthedRequest = Request & { principal?: Principal };

export interface TrainingRoutesDeps {
  training: TrainingJobs;
  requireRole: (role: Role) => (req: AuthedRequest, res: Response, next: NextFunction) => void;
  sendError: (res: Response, status: number, code: ErrorCode, message: string) => void;
  log: Logger;
}

const STATUS: Record<TrainingJobError['code'], number> = {
  BAD_MESSAGE: 400,
  UNKNOWN_MODEL: 404,
  UNKNOWN_JOB: 404,
  BAD_STATE: 409,
  PACS_UNAVAILABLE: 503,
  LIMIT_EXCEEDED: 429,
  SHUTTING_DOWN: 503,
};

export function mountTrainingRoutes(app: Express, deps: TrainingRoutesDeps): void {
  const { training, requireRole, sendError } = deps;
  const admin = requireRole('admin');
  const answer = (res: Response, f: () => unknown, status = 200) => {
    try {
      res.status(status).json({ training: f() });
    } catch (e) {
      if (e instanceof TrainingJobError) sendError(res, STATUS[e.code], e.code, e.message);
      else throw e;
    }
  };

  app.post('/api/training', admin, express.json({ limit: '64kb' }), (req: AuthedRequest, res) => {
    answer(res, () => training.start(req.body, req.principal!.subject), 201);
  });
  app.get('/api/training', admin, (_req, res) => {
    res.json({ trainings: training.list() });
  });
  app.get('/api/training/:id', admin, (req, res) => {
    const t = training.get(String(req.params.id));
    if (!t) sendError(res, 404, 'UNKNOWN_JOB', `no train job ${String(req.params.id).slice(0, 64)}`);
    else res.json({ training: t });
  });
  app.post('/api/training/:id/cancel', admin, (req, res) => answer(res, () => training.cancel(String(req.params.id))));
  app.post('/api/training/:id/resume', admin, (req, res) => answer(res, () => training.resume(String(req.params.id))));
}
