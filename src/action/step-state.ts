// What main hands to post. One JSON document under one state name, rewritten as main
// progresses, so a main that fails half-way still leaves post enough to tear down what exists.
import * as core from '@actions/core';

const STATE_NAME = 'runbox';

export interface ProvisionedDir {
  name: string;
  path: string;
  scope: 'run' | 'pr';
}

export interface RunState {
  version: 1;
  baseDir: string;
  /** The per-run dir; its whole tree belongs to this run. '' when `dirs` was empty. */
  runDir: string;
  /** Dirs that exist because of this run (removed by post unless keep). */
  dirs: ProvisionedDir[];
  owner: { uid: number; gid: number };
  runnerOwner: { uid: number; gid: number };
  reclaim: string[];
  keep: boolean;
  /** What post does about processes still using the dirs (inputs release-timeout, leftovers); absent in a state from an older main. */
  release?: { timeoutSec: number; leftovers: 'wait' | 'kill' };
  /** Set by the lock capability: the detached process holding this run's locks. */
  keeper?: { pid: number; locks: string[] };
  /** Set once main holds its locks: the token in its holder records and their paths, for post to settle them if the keeper is gone. */
  held?: { token: string; locks: string[] };
  /** Set by the store capability. */
  store?: Record<string, unknown>;
}

export function saveRunState(state: RunState): void {
  core.saveState(STATE_NAME, JSON.stringify(state));
}

export function loadRunState(): RunState | undefined {
  const raw = core.getState(STATE_NAME);
  if (!raw) return undefined;
  const parsed = JSON.parse(raw) as RunState;
  if (parsed.version !== 1) throw new Error(`runbox state version ${String(parsed.version)} is not understood by this post step`);
  return parsed;
}
