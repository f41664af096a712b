import { exitOnTermination } from './action/on-cancel.js';
import { asCleanup, stopChildren } from './sys/exec.js';
import { runSave } from './steps/save-step.js';

exitOnTermination('save', { stopWork: () => stopChildren(), asCleanup });
await runSave();
