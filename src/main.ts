import { exitOnTermination } from './action/on-cancel.js';
import { runMain } from './steps/main-step.js';

exitOnTermination('main');
await runMain();
