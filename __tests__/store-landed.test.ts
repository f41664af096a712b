// The walk of what tar extracted (verifyLanded) for hard links: each emitted link must be the same
// inode as the file it was emitted to, and each emitted file must have exactly the link count the
// stream gives it. Tampered between tar and the walk, as a tar that did something else would
// leave it: the restore refuses.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import type { ArchiveRecord } from '../src/store/manifest.js';
import { PrivateRestore, privatePlace } from '../src/store/private-extract.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { makeTar } from './helpers/store-tar.js';
import { q, removeTempDirs, sh, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store'];
const item = 'gnu/store/aaaa-item';

async function landed(tamper: (sub: string) => void): Promise<string | undefined> {
  const root = tempDir('runbox-landed-');
  const file = path.join(tempDir('runbox-landed-snap-'), 'store-0.tar.zst');
  const tar = makeTar([
    { name: `${item}/`, type: '5', mode: 0o555 },
    { name: `${item}/f`, type: '0', mode: 0o444, data: 'shared\n' },
    { name: `${item}/g`, type: '1', linkname: `${item}/f` },
    { name: `${item}/h`, type: '0', mode: 0o444, data: 'other!\n' },
    { name: `${item}/i`, type: '1', linkname: `${item}/h` },
    { name: `${item}/j`, type: '0', mode: 0o444, data: 'alone!\n' }
  ]);
  fs.writeFileSync(file + '.raw', tar);
  sh(`zstd -q -f -o ${q(file)} ${q(file + '.raw')}`);
  const bytes = fs.readFileSync(file);
  const rec: ArchiveRecord = { file: 'store-0.tar.zst', sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, compression: 'zstd', storePaths: STORE_PATHS };
  const { restore } = await PrivateRestore.open(root, STORE_PATHS, privatePlace(root, STORE_PATHS));
  try {
    await restore.extract(0, file, rec, { storePaths: STORE_PATHS });
    tamper(path.join(restore.dir, '0'));
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
    expect(reason).toMatch(/'0\/gnu\/store\/aaaa-item\/f' landed as f 0:0 444 7 x1 @1, not f 0:0 444 7 x2 @1/);
  });

  test('a file linked to another emitted file of the same size: refused', async () => {
    const reason = await landed((sub) => sh(`cd ${q(sub)}/${item} && rm j && ln f j && touch -d @1 .`));
    expect(reason).toMatch(/landed as f 0:0 444 7 x3 @1, not f 0:0 444 7 x[12] @1/);
  });

  test('two links swapped (every link count as emitted, the inodes not): refused', async () => {
    const reason = await landed((sub) => sh(`cd ${q(sub)}/${item} && rm g i && ln h g && ln f i && touch -d @1 .`));
    expect(reason).toMatch(/'0\/gnu\/store\/aaaa-item\/[gi]' is not the same file as '0\/gnu\/store\/aaaa-item\/[fh]', which it was emitted as a hard link to/);
  });
});
