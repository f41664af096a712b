// The purge inputs, validated by main before anything happens and read again by post (the token
// only ever from the input: like signing-key, it is never written to the run state).
import * as core from '@actions/core';
import { parseBoolean, type InputSource } from '../action/input-source.js';
import { parseDuration } from '../common/duration.js';
import { InputError } from '../common/errors.js';
import { keyProblem } from './config.js';
import type { StoreConfig } from './config.js';

export interface PurgeConfig {
  /** Explicit `purge-prefixes`; undefined means this job's restore keys (else its key). */
  prefixes?: string[];
  createdBeforeSec?: number;
  lastAccessedBeforeSec?: number;
  token: string;
}

/** Deletions one post makes at most; the rest waits for the next post (REST rate limits are per hour). */
export const MAX_DELETIONS = 50;

const PURGE_INPUTS = ['purge-prefixes', 'purge-created-before', 'purge-last-accessed-before'];

/** The validated purge config, or undefined when `purge` is false. */
export function parsePurgeConfig(src: InputSource, store: StoreConfig | undefined): PurgeConfig | undefined {
  const on = parseBoolean(src, 'purge', false);
  if (!on) {
    // A purge setting without purge is a half-written config, not "off".
    for (const name of PURGE_INPUTS) if (src.value(name) !== '') throw new InputError(name, "it is set while 'purge' is false", "Set 'purge: true', or remove it");
    return undefined;
  }
  if (!store) throw new InputError('purge', "it is true while 'store' is empty: there are no runbox snapshots to purge", "Set 'store' to 'guix' or 'nix', or remove 'purge'");
  const lines = src.lines('purge-prefixes');
  for (const p of lines) {
    const problem = keyProblem(p);
    if (problem) throw new InputError('purge-prefixes', `'${p.length > 60 ? `${p.slice(0, 60)}...` : p}': ${problem}`, 'Give key prefixes as in restore-keys, one per line');
  }
  const duration = (name: string): number | undefined => {
    const v = src.value(name);
    return v === '' ? undefined : parseDuration(name, v);
  };
  const createdBeforeSec = duration('purge-created-before');
  const lastAccessedBeforeSec = duration('purge-last-accessed-before');
  const token = src.value('token');
  // An unexpanded default means an Actions runtime that does not evaluate expressions in defaults.
  if (token === '' || token.includes('${{'))
    throw new InputError(
      'token',
      "it is empty while 'purge' is true",
      "Leave 'token' at its default (github.token) and give the job 'permissions: actions: write', or pass a token with that permission from a secret"
    );
  core.setSecret(token);
  return {
    ...(lines.length > 0 ? { prefixes: lines } : {}),
    ...(createdBeforeSec !== undefined ? { createdBeforeSec } : {}),
    ...(lastAccessedBeforeSec !== undefined ? { lastAccessedBeforeSec } : {}),
    token
  };
}
