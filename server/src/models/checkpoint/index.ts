export * from '../../formats/pickle.js';
export * from './tensor.js';
export * from './reader.js';
export * from './weights.js';
export * from '../../formats/pickler.js';
export * from './writer.js';
