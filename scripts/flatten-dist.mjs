// ncc writes dist/<entry>/index.js; the runner wants dist/main.js and dist/post.js side by side
// (the keeper is spawned as dist/keeper.js next to them). Moves the bundles up one level.
import fs from 'node:fs';
import path from 'node:path';

const dist = path.resolve('dist');
for (const entry of ['main', 'post', 'keeper']) {
  const dir = path.join(dist, entry);
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir)) {
    if (f === 'package.json') continue;
    const target = f === 'index.js' ? `${entry}.js` : f;
    fs.renameSync(path.join(dir, f), path.join(dist, target));
  }
  fs.rmSync(dir, { recursive: true });
}
fs.writeFileSync(path.join(dist, 'package.json'), '{ "type": "module" }\n');
