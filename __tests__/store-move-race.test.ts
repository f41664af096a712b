// moveIn's race: an item's name appearing in the store between moveIn's freshness check and the
// rename (root or the build group writing the store while the daemon is stopped). The rename is
// made to refuse (mv -n: renameat2 RENAME_NOREPLACE), so what appeared is left as it is and the
// snapshot's item is neither added nor registered. The name is planted exactly in that window:
// moveAll (the rename) is wrapped to plant it first. With a plain `mv -t`, the planted file and
// the planted empty dir are replaced by the snapshot's.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { PrivateRestore, privatePlace } from '../src/store/private-extract.js';
import { realStorePaths } from '../src/store/config.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { makeTar } from './helpers/store-tar.js';
import { forgedArchive, removeTempDirs, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store'];

type MoveAll = (sources: readonly string[], dest: string, inodes: ReadonlyArray<string | undefined>) => Promise<Set<number>>;

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd')])('an item appearing in the store between the check and the rename', () => {
  afterAll(removeTempDirs);

  test('a planted file and a planted empty dir are kept, not replaced, and not added; the other items are moved in', async () => {
    const root = tempDir('runbox-race-');
    const { file, rec } = forgedArchive(
      'runbox-race-snap-',
      makeTar([
        { name: 'gnu/store/aaaa-kept/', type: '5', mode: 0o555 },
        { name: 'gnu/store/aaaa-kept/f', type: '0', mode: 0o444, data: 'snapshot\n' },
        { name: 'gnu/store/bbbb-file.drv', type: '0', mode: 0o444, data: 'snapshot\n' },
        { name: 'gnu/store/cccc-dir/', type: '5', mode: 0o555 },
        { name: 'gnu/store/cccc-dir/f', type: '0', mode: 0o444, data: 'snapshot\n' }
      ]),
      STORE_PATHS
    );
    const store = path.join(root, 'gnu/store');
    const proto = PrivateRestore.prototype as unknown as { moveAll: MoveAll };
    const original = proto.moveAll;
    let planted = 0;
    proto.moveAll = function (this: unknown, sources, dest, inodes) {
      // After moveIn's check saw neither name, before the rename.
      fs.writeFileSync(path.join(store, 'bbbb-file.drv'), 'planted\n');
      fs.mkdirSync(path.join(store, 'cccc-dir'));
      planted++;
      return original.call(this, sources, dest, inodes);
    };
    const { restore } = await PrivateRestore.open(realStorePaths(root, STORE_PATHS), privatePlace(root, realStorePaths(root, STORE_PATHS)));
    let moved;
    try {
      const summary = await restore.extract(0, { open: () => fs.createReadStream(file) }, rec, { storePaths: STORE_PATHS });
      await restore.verifyLanded();
      moved = await restore.moveIn([{ index: 0, summary }]);
    } finally {
      proto.moveAll = original;
      await restore.close();
    }
    expect(planted).toBe(1);
    expect(fs.readFileSync(path.join(store, 'bbbb-file.drv'), 'utf8')).toBe('planted\n');
    expect(fs.readdirSync(path.join(store, 'cccc-dir'))).toEqual([]);
    expect(fs.readFileSync(path.join(store, 'aaaa-kept/f'), 'utf8')).toBe('snapshot\n');
    expect(moved.added).toEqual(['/gnu/store/aaaa-kept']);
    expect(moved.existing).toBe(2);
  });

  test('an item two archives hold goes in once, from the first; the rest of both archives in archive order, in one rename', async () => {
    const root = tempDir('runbox-race-');
    const a = forgedArchive(
      'runbox-race-snap-',
      makeTar([
        { name: 'gnu/store/cccc-dup', type: '0', mode: 0o444, data: 'first\n' },
        { name: 'gnu/store/dddd-a', type: '0', mode: 0o444, data: 'a\n' }
      ]),
      STORE_PATHS
    );
    const b = forgedArchive(
      'runbox-race-snap-',
      makeTar([
        { name: 'gnu/store/aaaa-b', type: '0', mode: 0o444, data: 'b\n' },
        { name: 'gnu/store/cccc-dup', type: '0', mode: 0o444, data: 'second\n' }
      ]),
      STORE_PATHS
    );
    const store = path.join(root, 'gnu/store');
    const proto = PrivateRestore.prototype as unknown as { moveAll: MoveAll };
    const original = proto.moveAll;
    const renames: number[] = [];
    proto.moveAll = function (this: unknown, sources, dest, inodes) {
      renames.push(sources.length);
      return original.call(this, sources, dest, inodes);
    };
    const { restore } = await PrivateRestore.open(realStorePaths(root, STORE_PATHS), privatePlace(root, realStorePaths(root, STORE_PATHS)));
    let moved;
    try {
      const rules = { storePaths: STORE_PATHS };
      const [sa, sb] = await restore.extractAll(
        [
          { index: 0, src: { open: () => fs.createReadStream(a.file) }, rec: a.rec, rules },
          { index: 1, src: { open: () => fs.createReadStream(b.file) }, rec: b.rec, rules }
        ],
        1
      );
      await restore.verifyLanded();
      moved = await restore.moveIn([
        { index: 0, summary: sa },
        { index: 1, summary: sb }
      ]);
    } finally {
      proto.moveAll = original;
      await restore.close();
    }
    expect(renames).toEqual([3]);
    expect(moved.added).toEqual(['/gnu/store/cccc-dup', '/gnu/store/dddd-a', '/gnu/store/aaaa-b']);
    expect(moved.existing).toBe(1);
    expect(fs.readFileSync(path.join(store, 'cccc-dup'), 'utf8')).toBe('first\n');
  });
});
