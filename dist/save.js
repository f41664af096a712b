// Written by scripts/flatten-dist.mjs: the save step, whose code is in runbox.js (src/runbox.ts).
import { runStep } from './runbox.js';

await runStep('save');
