import { exitOnTermination } from './action/on-cancel.js';
import { asCleanup, stopChildren } from './sys/exec.js';
import { runRestore } from './steps/restore-step.js';

exitOnTermination('restore', { stopWork: () => stopChildren(), asCleanup });
await runRestore();
