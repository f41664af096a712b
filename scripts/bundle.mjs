// Builds the two bundles (see flatten-dist.mjs for where they go): runbox (the four steps, see
// src/runbox.ts) and the dependency-free keeper. ncc is single-threaded and builds one entry at a
// time, so they build side by side. Each build transpiles only: ncc would otherwise type-check the
// whole tree again, which `npm run typecheck` has done once before the bundles. (Five bundles, one
// per step and each type-checking, took 78 s on 2 cores.)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ENTRIES = ['runbox', 'keeper', 'launcher'];
const build = path.resolve('.dist-build');

function bundle(entry) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.resolve('scripts/ncc-entry.mjs'), `src/${entry}.ts`, path.join(build, entry)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // Printed whole once it is done, so the output of parallel builds does not interleave.
      process.stdout.write(`== ncc ${entry}\n${out}`);
      if (code === 0) resolve();
      else reject(new Error(`ncc build of src/${entry}.ts failed (${signal ?? `exit ${code}`})`));
    });
  });
}

fs.rmSync(build, { recursive: true, force: true });
const queue = [...ENTRIES];
const slots = Math.max(1, Math.min(queue.length, os.availableParallelism()));
await Promise.all(
  Array.from({ length: slots }, async () => {
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) await bundle(e);
  })
);
