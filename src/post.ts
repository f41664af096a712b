import { exitOnTermination } from './action/on-cancel.js';
import { runPost } from './steps/post-step.js';

exitOnTermination('post');
await runPost();
