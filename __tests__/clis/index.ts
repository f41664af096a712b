// One bundle for every test CLI (bundled once per test run by ../helpers/global-setup.mjs):
// `node index.js <cli> args...`; helpers/bundle.ts testCli(name) gives a script per CLI.
import daemonStopped from './daemon-stopped.js';
import janitor from './janitor.js';
import lock from './lock.js';
import registerPaths from './register-paths.js';
import restoreLock from './restore-lock.js';

const CLIS: Record<string, (argv: string[]) => Promise<void>> = { 'daemon-stopped': daemonStopped, janitor, lock, 'register-paths': registerPaths, 'restore-lock': restoreLock };

const [name, ...argv] = process.argv.slice(2);
const cli = CLIS[name ?? ''];
if (!cli) {
  console.error(`unknown test CLI '${name ?? ''}'; one of: ${Object.keys(CLIS).join(', ')}`);
  process.exit(2);
}
await cli(argv);
