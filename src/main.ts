import { exitOnTermination } from './cleanup.js';
import { runMain } from './run-main.js';

exitOnTermination('main');
await runMain();
