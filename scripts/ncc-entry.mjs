// One ncc build (scripts/bundle.mjs runs one per entry, side by side): src/<entry>.ts to
// .dist-build/<entry>/, written as `ncc build` writes it (index.js and its assets). Through ncc's
// API rather than its CLI, because the CLI's --external cannot point a package at a file.
//
// UNBUNDLED maps packages to files in dist/ (written by flatten-dist.mjs) instead of bundling
// them. @actions/core imports @actions/http-client only for getIDToken (OIDC), which runbox never
// calls, and http-client imports undici and tunnel: bundled, they were half of dist/runbox.js and
// about 0.1 s of CPU in every step's startup (parsing, and undici's module bodies with the builtins
// they load), for code no step runs. The file that stands in throws if it is ever used.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const UNBUNDLED = {
  runbox: { '@actions/http-client': './http-client-unbundled.js', '@actions/http-client/lib/auth': './http-client-unbundled.js' },
  keeper: {}
};

const [entry, out] = process.argv.slice(2);
if (!(entry in UNBUNDLED) || !out) throw new Error('usage: ncc-entry.mjs <runbox|keeper> <out dir>');
const ncc = createRequire(import.meta.url)('@vercel/ncc');
const { code, assets, symlinks } = await ncc(path.resolve(`src/${entry}.ts`), { target: 'es2022', transpileOnly: true, externals: UNBUNDLED[entry], quiet: true });
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'index.js'), code);
for (const [name, a] of Object.entries(assets)) {
  fs.mkdirSync(path.dirname(path.join(out, name)), { recursive: true });
  fs.writeFileSync(path.join(out, name), a.source, { mode: a.permissions });
}
for (const [name, target] of Object.entries(symlinks ?? {})) fs.symlinkSync(target, path.join(out, name));
for (const name of ['index.js', ...Object.keys(assets)].sort()) console.log(`${String(Math.round(fs.statSync(path.join(out, name)).size / 1024)).padStart(6)}kB  ${name}`);
