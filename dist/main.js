// Written by scripts/flatten-dist.mjs: the main step, whose code is in runbox.js (src/runbox.ts).
import { runStep } from './runbox.js';

await runStep('main');
