export * from './format.js';
export * from './signing.js';
export { planEntry, entryRange, type EntryPlan } from './writer.js';
export { fetchFile, fileChunks, readEntry, readIndex, freeBytes, type RangeSource, type ReadEntryOptions, type ReadEntryResult } from './reader.js';
