// The walk of what tar extracted (verifyLanded) for hard links: each emitted link must be the same
// inode as the file it was emitted to, and each emitted file must have exactly the link count the
// stream gives it. Tampered between tar and the walk, as a tar that did something else would
// leave it: the restore refuses. Link anchors (files of an item the store has, written only so a
// new item can link to them) are held to the same walk.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { PrivateRestore, privatePlace } from '../src/store/private-extract.js';
import { realStorePaths } from '../src/store/config.js';
import { CONFINED_IDS } from '../src/sys/confined.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { makeTar, type TarEntry } from './helpers/store-tar.js';
import { forgedArchive, q, removeTempDirs, sh, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store'];
const item = 'gnu/store/aaaa-item';

const ITEM_ENTRIES: TarEntry[] = [
  { name: `${item}/`, type: '5', mode: 0o555 },
  { name: `${item}/f`, type: '0', mode: 0o444, data: 'shared\n' },
  { name: `${item}/g`, type: '1', linkname: `${item}/f` },
  { name: `${item}/h`, type: '0', mode: 0o444, data: 'other!\n' },
  { name: `${item}/i`, type: '1', linkname: `${item}/h` },
  { name: `${item}/j`, type: '0', mode: 0o444, data: 'alone!\n' }
];

/** An item the store already has, whose `doc/COPYING` (a link anchor) the new item links to. */
const host = 'gnu/store/0000-host';
const ANCHORED: TarEntry[] = [
  { name: `${host}/`, type: '5', mode: 0o555 },
  { name: `${host}/doc/`, type: '5', mode: 0o555 },
  { name: `${host}/doc/COPYING`, type: '0', mode: 0o444, data: 'license\n' },
  { name: `${host}/doc/other`, type: '0', mode: 0o444, data: 'no anchor\n' },
  { name: `${item}/`, type: '5', mode: 0o555 },
  { name: `${item}/COPYING`, type: '1', linkname: `${host}/doc/COPYING` }
];

async function landed(tamper: (sub: string) => void, entries = ITEM_ENTRIES, linkTargets?: string[]): Promise<string | undefined> {
  const root = tempDir('runbox-landed-');
  if (entries === ANCHORED) fs.mkdirSync(path.join(root, host), { recursive: true });
  const { file, rec } = forgedArchive('runbox-landed-snap-', makeTar(entries), STORE_PATHS, linkTargets);
  const { restore } = await PrivateRestore.open(realStorePaths(root, STORE_PATHS), privatePlace(root, realStorePaths(root, STORE_PATHS)));
  try {
    await restore.extract(0, { open: () => fs.createReadStream(file) }, rec, { storePaths: STORE_PATHS });
    tamper(path.join(restore.tree, '0', '0'));
    await restore.verifyLanded();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await restore.close();
  }
}

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd')])('what landed, for hard links', () => {
  afterAll(removeTempDirs);

  test('as emitted: two inodes with two names each, the other file with one', async () => {
    expect(await landed(() => undefined)).toBeUndefined();
  });

  test('the link a copy instead (same type, mode, size, mtime): refused', async () => {
    const reason = await landed((sub) => sh(`cd ${q(sub)}/${item} && rm g && cp -p f g && touch -d @1 .`));
    expect(reason).toMatch(/'0\/0\/gnu\/store\/aaaa-item\/f' landed as f 0:0 444 7 x1 @1, not f 0:0 444 7 x2 @1/);
  });

  test('a file linked to another emitted file of the same size: refused', async () => {
    const reason = await landed((sub) => sh(`cd ${q(sub)}/${item} && rm j && ln f j && touch -d @1 .`));
    expect(reason).toMatch(/landed as f 0:0 444 7 x3 @1, not f 0:0 444 7 x[12] @1/);
  });

  test('two links swapped (every link count as emitted, the inodes not): refused', async () => {
    const reason = await landed((sub) => sh(`cd ${q(sub)}/${item} && rm g i && ln h g && ln f i && touch -d @1 .`));
    expect(reason).toMatch(/'0\/0\/gnu\/store\/aaaa-item\/[gi]' is not the same file as '0\/0\/gnu\/store\/aaaa-item\/[fh]', which it was emitted as a hard link to/);
  });

  test('a link anchor of an item the store has: it and its dirs landed canonical (only those of that item), the link its inode', async () => {
    let seen = '';
    expect(await landed((sub) => (seen = sh(`cd ${q(sub)} && find gnu/store -mindepth 1 -printf '%P %y %m %U %G %T@ %n\\n' | sort`).stdout), ANCHORED, [`${host}/doc/COPYING`])).toBeUndefined();
    // As tar left it: the confined uid's (verifyLanded gives it to root before the walk).
    const ids = `${CONFINED_IDS.uid} ${CONFINED_IDS.gid}`;
    expect(seen.split('\n').filter((l) => l !== '')).toEqual([
      `0000-host d 555 ${ids} 1.0000000000 3`,
      `0000-host/doc d 555 ${ids} 1.0000000000 2`,
      `0000-host/doc/COPYING f 444 ${ids} 1.0000000000 2`,
      `aaaa-item d 555 ${ids} 1.0000000000 2`,
      `aaaa-item/COPYING f 444 ${ids} 1.0000000000 2`
    ]);
  });

  test('a link anchor missing, or copied rather than linked, or an extra file beside it: refused', async () => {
    expect(await landed((sub) => sh(`cd ${q(sub)}/${host}/doc && rm COPYING && touch -d @1 .`), ANCHORED, [`${host}/doc/COPYING`])).toMatch(
      /'0\/0\/gnu\/store\/0000-host\/doc\/COPYING' was emitted but is not in the private dir/
    );
    expect(await landed((sub) => sh(`cd ${q(sub)}/${item} && rm COPYING && cp -p ../0000-host/doc/COPYING COPYING && touch -d @1 .`), ANCHORED, [`${host}/doc/COPYING`])).toMatch(
      /landed as f 0:0 444 8 x1 @1, not f 0:0 444 8 x2 @1/
    );
    expect(await landed((sub) => sh(`cd ${q(sub)}/${host}/doc && echo x > other && chmod 444 other && touch -d @1 other .`), ANCHORED, [`${host}/doc/COPYING`])).toMatch(
      /'0\/0\/gnu\/store\/0000-host\/doc\/other' is in the private dir, but was never emitted/
    );
  });
});
