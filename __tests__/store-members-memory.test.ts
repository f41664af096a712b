// Memory against a huge member count. An archive's members cost no bytes worth mentioning in
// zstd (200k empty files: 0.5 MB), so what bounds node's memory is MAX_MEMBERS: per archive for
// the checks' sets, and per restore, all archives together, for the record of what must land
// (kept until the walk). Without the restore-wide bound, 128 archives of 4M members each would
// be 512M records, far past any heap. Measured here: the heap one extracted path keeps, and the
// refusal of the archive that takes a restore past its bound, also by members it only checks.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, expect, test } from '@jest/globals';
import type { ArchiveRecord } from '../src/store/manifest.js';
import { MAX_MEMBERS, PrivateRestore, privatePlace } from '../src/store/private-extract.js';
import { realStorePaths } from '../src/store/config.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { makeTar, type TarEntry } from './helpers/store-tar.js';
import { q, removeTempDirs, sh, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store'];

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** A zstd archive of one item holding `n` empty files. */
function manyMembers(item: string, n: number): { file: string; rec: ArchiveRecord } {
  const entries: TarEntry[] = [{ name: `gnu/store/${item}/`, type: '5', mode: 0o555 }];
  for (let i = 0; i < n; i++) entries.push({ name: `gnu/store/${item}/f${i}`, type: '0', mode: 0o444, data: '' });
  const tar = makeTar(entries);
  const file = path.join(tempDir('runbox-mem-'), `${item}.tar.zst`);
  fs.writeFileSync(`${file}.raw`, tar);
  sh(`zstd -q -f -o ${q(file)} ${q(`${file}.raw`)} && rm ${q(`${file}.raw`)}`);
  const bytes = fs.readFileSync(file);
  return {
    file,
    rec: { file: path.basename(file), sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, compression: 'zstd', storePaths: STORE_PATHS, dataBytes: tar.length }
  };
}

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd')])('a huge member count', () => {
  afterAll(removeTempDirs);

  test('the heap kept per extracted path: MAX_MEMBERS of them stay within 1.5 GiB', async () => {
    const n = 50_000;
    const { file, rec } = manyMembers('aaaa-many', n);
    const root = tempDir('runbox-mem-root-');
    gc();
    const before = process.memoryUsage().heapUsed;
    const { restore } = await PrivateRestore.open(realStorePaths(root, STORE_PATHS), privatePlace(root, realStorePaths(root, STORE_PATHS)));
    try {
      await restore.extract(0, { open: () => fs.createReadStream(file) }, rec, { storePaths: STORE_PATHS });
      gc();
      const perPath = (process.memoryUsage().heapUsed - before) / n;
      process.stdout.write(`heap kept per extracted path: ${perPath.toFixed(0)} bytes (${((perPath * MAX_MEMBERS) / 2 ** 30).toFixed(2)} GiB at MAX_MEMBERS)\n`);
      expect(perPath).toBeGreaterThan(0);
      expect(perPath * MAX_MEMBERS).toBeLessThan(1.5 * 2 ** 30);
    } finally {
      await restore.close();
    }
  });

  test('members that are checked but never extracted (an item the store has) count against the restore-wide bound too', async () => {
    const root = tempDir('runbox-mem-root-');
    // The store has the item already: its members are checked and dropped, nothing lands.
    fs.mkdirSync(path.join(root, 'gnu/store/aaaa-there'), { recursive: true });
    const a = manyMembers('aaaa-there', 1200);
    const { restore } = await PrivateRestore.open(realStorePaths(root, STORE_PATHS), privatePlace(root, realStorePaths(root, STORE_PATHS)), 1000);
    try {
      await expect(restore.extract(0, { open: () => fs.createReadStream(a.file) }, a.rec, { storePaths: STORE_PATHS })).rejects.toThrow(
        /member 'gnu\/store\/aaaa-there\/f\d+' is past the 1000 members one restore may check, all its archives together/
      );
    } finally {
      await restore.close();
    }
  });

  test('archives that each stay under the bound but together pass it: the one that passes it is refused', async () => {
    const a = manyMembers('aaaa-first', 600);
    const b = manyMembers('bbbb-second', 600);
    const root = tempDir('runbox-mem-root-');
    const { restore } = await PrivateRestore.open(realStorePaths(root, STORE_PATHS), privatePlace(root, realStorePaths(root, STORE_PATHS)), 1000);
    try {
      await restore.extract(0, { open: () => fs.createReadStream(a.file) }, a.rec, { storePaths: STORE_PATHS });
      await expect(restore.extract(1, { open: () => fs.createReadStream(b.file) }, b.rec, { storePaths: STORE_PATHS })).rejects.toThrow(
        /member '0\/1\/gnu\/store\/bbbb-second\/f\d+' is past the 1000 paths one restore may extract, all its archives together/
      );
    } finally {
      await restore.close();
    }
  });
});
