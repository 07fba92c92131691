import type { Command } from 'commander';
import { register as dicomToNifti } from './dicom-to-nifti.js';
import { register as niftiToSeg } from './nifti-to-seg.js';
import { register as segToNifti } from './seg-to-nifti.js';
import { register as evaluate } from './evaluate.js';
import { register as planAndPreprocess } from './plan-and-preprocess.js';
import { register as extractFingerprint } from './extract-fingerprint.js';
import { register as planExperiment } from './plan-experiment.js';
import { register as preprocess } from './preprocess.js';
import { register as postprocessing } from './postprocessing.js';
import { register as crossval } from './crossval.js';
import { register as convertMsd } from './convert-msd-dataset.js';
import { register as plotOverlays } from './plot-overlay-pngs.js';
import { register as importModel } from './import-model.js';
import { register as exportModel } from './export-model.js';
import { register as predict } from './predict.js';
import { register as ensemble } from './ensemble.js';
import { register as serve } from './serve.js';
import { register as worker } from './worker.js';
import { register as phantom } from './phantom.js';
import { register as watch } from './watch.js';
import { register as train } from './train.js';
import { register as corrections } from './corrections.js';

/** Every subcommand module exports one `register(program)`; add new ones here. */
export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [evaluate, planAndPreprocess, extractFingerprint, planExperiment, preprocess, postprocessing, crossval, convertMsd, plotOverlays, dicomToNifti, niftiToSeg, segToNifti, importModel, exportModel, predict, ensemble, serve, worker, phantom, watch, train, corrections];
