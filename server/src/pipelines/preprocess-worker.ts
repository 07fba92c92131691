/** Worker thread entry: runs preprocessing tasks (nnunet/preprocessing/preprocess-task.ts). */
import { runPreprocessTask } from './preprocess-task.js';
import { serveTasks } from '../workers/worker-runtime.js';

serveTasks(runPreprocessTask);
