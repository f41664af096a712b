// The store-snapshot capability: main calls restoreStore, post calls saveStore with the state
// main returned (kept in RunState.store).
export { initialState, StoreMissError, type StoreOutputs } from './restore.js';
// One snapshot, or with restore-all-matches every match merged (restore-all.ts dispatches).
export { restoreStoreAll as restoreStore } from './restore-all.js';
export { readRestoreRecord, writeRestoreRecord } from './record.js';
export { saveStore } from './save.js';
export { parseStoreConfig, type StoreConfig } from './config.js';
export { storeStateFrom, type StoreState } from './state.js';
export { purgeAfterSave } from './purge.js';
export { parsePurgeConfig } from './purge-config.js';
