// Written by scripts/flatten-dist.mjs: the restore step, whose code is in runbox.js (src/runbox.ts).
import { runStep } from './runbox.js';

await runStep('restore');
