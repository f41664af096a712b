// One ncc build: `node scripts/ncc-entry.mjs <entry.ts> <out dir> [--no-cache]` writes what
// `ncc build` writes (index.js and its assets) to the out dir. scripts/bundle.mjs runs one per
// entry of dist/, side by side; the tests' globalSetup bundles the test CLIs with it. Through
// ncc's API rather than its CLI, because the CLI's --external cannot point a package at a file.
//
// UNBUNDLED: packages not bundled, imported instead from a file written next to index.js.
// @actions/core imports @actions/http-client only for getIDToken (OIDC), which runbox never
// calls, and http-client imports undici and tunnel: bundled, they were half of dist/runbox.js and
// about 0.1 s of CPU in the startup of every step (parsing, and undici's module bodies with the
// builtins they load), for code nothing runs. The file that stands in throws if it is ever used.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const STAND_IN = 'http-client-unbundled.js';
const UNBUNDLED = { '@actions/http-client': `./${STAND_IN}`, '@actions/http-client/lib/auth': `./${STAND_IN}` };
// The names @actions/core imports from it, each refusing, so a future getIDToken fails saying why.
const STAND_IN_SOURCE = `// Written by scripts/ncc-entry.mjs: @actions/http-client is not bundled (see UNBUNDLED there).
const refuse = () => {
  throw new Error('runbox does not bundle @actions/http-client: @actions/core getIDToken (OIDC) is not available');
};
export class HttpClient {
  constructor() {
    refuse();
  }
}
export class BearerCredentialHandler {
  constructor() {
    refuse();
  }
}
`;

const [entry, out, ...flags] = process.argv.slice(2);
if (!entry || !out || flags.some((f) => f !== '--no-cache')) throw new Error('usage: ncc-entry.mjs <entry.ts> <out dir> [--no-cache]');
const ncc = createRequire(import.meta.url)('@vercel/ncc');
const { code, assets, symlinks } = await ncc(path.resolve(entry), {
  target: 'es2022',
  transpileOnly: true,
  externals: UNBUNDLED,
  quiet: true,
  ...(flags.includes('--no-cache') ? { cache: false } : {})
});
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'index.js'), code);
for (const [name, a] of Object.entries(assets)) {
  fs.mkdirSync(path.dirname(path.join(out, name)), { recursive: true });
  fs.writeFileSync(path.join(out, name), a.source, { mode: a.permissions });
}
for (const [name, target] of Object.entries(symlinks ?? {})) fs.symlinkSync(target, path.join(out, name));
// Only a bundle that imports it gets the stand-in (the keeper imports no package at all).
const written = ['index.js', ...Object.keys(assets)];
if (code.includes(`from "./${STAND_IN}"`)) {
  fs.writeFileSync(path.join(out, STAND_IN), STAND_IN_SOURCE);
  written.push(STAND_IN);
}
for (const name of written.sort()) console.log(`${String(Math.round(fs.statSync(path.join(out, name)).size / 1024)).padStart(6)}kB  ${name}`);
