// Tests that need runbox code in a separate process (two janitors racing, a lock held by another
// node process) run a small CLI around the real modules, bundled with ncc as the action itself is
// built. The CLIs live in __tests__/clis and are bundled once per run (global-setup.mjs).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './action-runner.js';

function bundled(): string {
  const dir = process.env.RUNBOX_TEST_CLIS;
  if (!dir || !fs.existsSync(path.join(dir, 'index.js')))
    throw new Error('the test CLIs are not bundled: run jest with jest.config.js, whose global setup (__tests__/helpers/global-setup.mjs) bundles them');
  return dir;
}

/** The script of test CLI `name` (a file in __tests__/clis, listed there in index.ts). */
export function testCli(name: 'daemon-stopped' | 'janitor' | 'lock' | 'register-paths' | 'restore-lock'): string {
  return path.join(bundled(), `${name}.mjs`);
}

/** src/keeper.ts built for this run, as `<dir>/keeper.js` (the name stopKeeper recognises). */
export function testKeeper(): string {
  return path.join(bundled(), 'keeper', 'keeper.js');
}

/** ncc-bundles `entry` into `outDir`; --no-cache because other builds may run concurrently. */
export function ncc(entry: string, outDir: string): string {
  execFileSync(path.join(ROOT, 'node_modules/.bin/ncc'), ['build', entry, '-o', outDir, '--target', 'es2022', '--no-cache'], { cwd: ROOT, stdio: 'pipe' });
  return path.join(outDir, 'index.js');
}

/**
 * Writes `source` (TypeScript importing from ROOT/src) as a CLI under `tmp` and bundles it;
 * returns the script. One ncc run per call: prefer a file in __tests__/clis and testCli().
 */
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
