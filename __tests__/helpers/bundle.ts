// Tests that need runbox code in a separate process (two janitors racing, a lock held by another
// node process) bundle a small CLI around the real modules with ncc, as the action itself is built.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './action-runner.js';

/** ncc-bundles `entry` into `outDir`; --no-cache because other builds may run concurrently. */
export function ncc(entry: string, outDir: string): string {
  execFileSync(path.join(ROOT, 'node_modules/.bin/ncc'), ['build', entry, '-o', outDir, '--target', 'es2022', '--no-cache'], { cwd: ROOT, stdio: 'pipe' });
  return path.join(outDir, 'index.js');
}

/** Writes `source` (TypeScript importing from ROOT/src) as a CLI under `tmp` and bundles it; returns the script. */
export function bundleCli(tmp: string, source: string): string {
  const dir = path.join(tmp, 'cli-src');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'cli.ts'), source);
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        // Not NodeNext: ncc compiles ESM with its own module setting and can reject NodeNext (TS5110).
        module: 'ES2022',
        moduleResolution: 'Bundler',
        skipLibCheck: true,
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
        types: ['node']
      },
      files: ['cli.ts']
    })
  );
  return ncc(path.join(dir, 'cli.ts'), path.join(tmp, 'cli'));
}
