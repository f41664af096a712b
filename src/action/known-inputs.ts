// The runner passes every key under `with:` as an INPUT_<NAME> variable, known to the action or
// not, and only warns about unknown ones in a collapsed corner of the log. A typo'd input
// (`disk_limit`, `reap-afer`) then silently leaves a guard off, so main compares the variables
// with the inputs action.yml declares and fails naming the closest one.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { inputEnvName } from './input-source.js';

/**
 * The input names declared in the action.yml next to the bundle (`<action>/dist/main.js` ->
 * `<action>/action.yml`), read at run time so that the list can never fall behind action.yml.
 * undefined when there is no action.yml there (the bundle run outside an action checkout).
 */
export function declaredInputs(script: string | undefined = process.argv[1], subAction = ''): string[] | undefined {
  if (!script) return undefined;
  let yml: string;
  try {
    // A sub-action's bundle is in the same dist/; its action.yml is in its own folder (`restore/`).
    yml = fs.readFileSync(path.join(path.dirname(fs.realpathSync(script)), '..', subAction, 'action.yml'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const section = yml.split(/^inputs:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
  return [...section.matchAll(/^ {2}([A-Za-z0-9_-]+):\s*$/gm)].map((m) => m[1]);
}

/** Edit distance, for "did you mean": inputs are short, so the plain dynamic programme will do. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The declared input nearest to `given` (`_` and `-` count as the same). An input that `given`
 * starts with, or that starts with it, counts as nearer (`keep_dirs`, `reap`): those are an
 * input with a word added or cut, not a different word.
 */
export function closestInput(given: string, declared: readonly string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, '-');
  const g = norm(given);
  const score = (a: string) => distance(g, norm(a)) - (g.startsWith(norm(a)) || norm(a).startsWith(g) ? 100 : 0);
  return [...declared].sort((a, b) => score(a) - score(b) || (a < b ? -1 : 1))[0];
}

/** Fails on the first INPUT_ variable that no declared input maps to, naming the nearest one. */
export function checkUnknownInputs(declared: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const known = new Set(declared.map(inputEnvName));
  const unknown = Object.keys(env)
    .filter((k) => k.startsWith('INPUT_') && !known.has(k))
    .sort();
  if (unknown.length === 0) return;
  // The runner upper-cases names; lower case is how the workflow most likely spelled it.
  const name = unknown[0].slice('INPUT_'.length).toLowerCase();
  const others =
    unknown.length > 1
      ? ` (also unknown: ${unknown
          .slice(1)
          .map((k) => `'${k.slice(6).toLowerCase()}'`)
          .join(', ')})`
      : '';
  throw new InputError(name, `runbox has no input of this name${others}, so it would be ignored`, `Did you mean '${closestInput(name, declared)}'? The inputs are: ${declared.join(', ')}`);
}
