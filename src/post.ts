import { exitOnTermination } from './cleanup.js';
import { runPost } from './run-post.js';

exitOnTermination('post');
await runPost();
