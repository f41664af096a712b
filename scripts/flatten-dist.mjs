// ncc writes .dist-build/<entry>/index.js; the runner wants dist/main.js and dist/post.js side by
// side (the keeper is spawned as dist/keeper.js next to them; the sub-actions restore/ and save/
// run dist/restore.js and dist/save.js). The four steps share one bundle, dist/runbox.js
// (src/runbox.ts); each step's file is a stub that runs its step from it. Each file is renamed
// into dist/, which replaces it atomically, so a test running dist/ during a rebuild never sees
// it missing.
import fs from 'node:fs';
import path from 'node:path';

const build = path.resolve('.dist-build');
const dist = path.resolve('dist');
fs.mkdirSync(dist, { recursive: true });
const produced = new Set(['package.json']);
for (const entry of ['runbox', 'keeper', 'launcher']) {
  const dir = path.join(build, entry);
  for (const f of fs.readdirSync(dir)) {
    if (f === 'package.json') continue;
    const target = f === 'index.js' ? `${entry}.js` : f;
    // Lazily loaded chunks (e.g. the blob SDK, loaded only to upload) are named by module id.
    // Two different chunks of one name would make one bundle load the other's code: refuse the
    // build instead.
    if (produced.has(target)) {
      if (!fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(dist, target))))
        throw new Error(`${entry} and an earlier entry both emit ${f} with different contents; give the chunk a distinct name`);
      fs.rmSync(path.join(dir, f));
      continue;
    }
    produced.add(target);
    fs.renameSync(path.join(dir, f), path.join(dist, target));
  }
}
for (const step of ['main', 'post', 'restore', 'save']) {
  const stub = path.join(build, `${step}.js`);
  fs.writeFileSync(
    stub,
    `// Written by scripts/flatten-dist.mjs: the ${step} step, whose code is in runbox.js (src/runbox.ts).\nimport { runStep } from './runbox.js';\n\nawait runStep('${step}');\n`
  );
  fs.renameSync(stub, path.join(dist, `${step}.js`));
  produced.add(`${step}.js`);
}
fs.writeFileSync(path.join(build, 'package.json'), '{ "type": "module" }\n');
fs.renameSync(path.join(build, 'package.json'), path.join(dist, 'package.json'));
for (const f of fs.readdirSync(dist)) if (!produced.has(f)) fs.rmSync(path.join(dist, f), { recursive: true });
fs.rmSync(build, { recursive: true });
