import { exitOnTermination } from './action/on-cancel.js';
import { asCleanup, stopChildren } from './sys/exec.js';
import { runMain } from './steps/main-step.js';

exitOnTermination('main', { stopWork: () => stopChildren(), asCleanup });
await runMain();
