// registerPaths in a process of its own, so a test can run it where it needs (a mount namespace
// with its own /nix) and with the PATH it needs: `register-paths <options as JSON>`, `added` a
// list; prints the result as JSON.
import { registerPaths, type RegisterOptions } from '../../src/store/db.js';

export default async function main(argv: string[]): Promise<void> {
  const o = JSON.parse(argv[0] ?? '') as Omit<RegisterOptions, 'added'> & { added: string[] };
  console.log(JSON.stringify(await registerPaths({ ...o, added: new Set(o.added) })));
}
