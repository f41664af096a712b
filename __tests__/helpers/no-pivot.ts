// A host where pivot_root is refused (an initramfs root, a runner in a chroot), stood in for by a
// `pivot_root` that fails, first in PATH: sys/confined.ts then remounts every writable mount of
// the namespace read-only instead, and the tests of that fallback run it on this host.
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../fixtures/store.js';

let dir: string | undefined;

/**
 * Runs `start` with that PATH; the PATH is back as it was once `start`'s promise settles (a
 * command started through exec may be spawned after an await, so not before).
 */
export async function withoutPivotRoot<T>(start: () => Promise<T>): Promise<T> {
  if (dir === undefined) {
    dir = tempDir('runbox-no-pivot-');
    fs.writeFileSync(path.join(dir, 'pivot_root'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  }
  const before = process.env.PATH;
  process.env.PATH = `${dir}:${before ?? ''}`;
  try {
    return await start();
  } finally {
    process.env.PATH = before;
  }
}
