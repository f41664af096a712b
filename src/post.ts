import { exitOnTermination } from './action/on-cancel.js';
import { asCleanup, stopChildren } from './sys/exec.js';
import { runPost } from './steps/post-step.js';

exitOnTermination('post', { stopWork: () => stopChildren(), asCleanup });
await runPost();
