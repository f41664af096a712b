// Post's dir work: remove exactly what this run created, after checking each path is a real dir
// inside base-dir. Never the parent, never through a symlink.
import fs from 'node:fs';
import { removeTree, treeBytes } from '../sys/privileged-fs.js';
import { assertOwnedSubdir } from '../sys/path-safety.js';

export interface RemovedDir {
  path: string;
  bytes: number;
}

export async function removeRunDir(runDir: string, baseDir: string): Promise<RemovedDir | undefined> {
  if (!fs.lstatSync(runDir, { throwIfNoEntry: false })) return undefined;
  assertOwnedSubdir(runDir, baseDir);
  const bytes = await treeBytes(runDir);
  await removeTree(runDir);
  return { path: runDir, bytes };
}
