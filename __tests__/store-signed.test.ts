// Signed snapshots through the built action (`node dist/main.js`, then `node dist/post.js`):
// post signs with `signing-key` read from its own input (never from main's state), the summary
// prints the trusted-keys line, and main with `trusted-keys` restores only entries signed by one
// of them. Bad key material fails main before anything is created.
import { generateKeyPairSync } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { publicKeyLine } from '../src/store/entry/signing.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, removeTempDirs, tempDir } from './fixtures/store.js';
import { contentManifest, partialGuixStore, stagingLeft, storeJobPool } from './helpers/store-e2e.js';

const tag = randomBytes(4).toString('hex');
// No '-' in the keys: no default restore key, so only the exact entry can match.
const SIGNED = `signed_${tag}`;
const UNSIGNED = `unsigned_${tag}`;
const BASE = { store: 'guix', daemon: 'none' };
const keyA = generateKeyPairSync('ed25519').privateKey;
const keyB = generateKeyPairSync('ed25519').privateKey;
const pemA = keyA.export({ format: 'pem', type: 'pkcs8' }) as string;
const lineA = publicKeyLine(keyA);
const lineB = publicKeyLine(keyB);

let server: CacheServer;
const { job, cleanup: cleanupJobs } = storeJobPool(() => server.url);

const partialStore = (): string => partialGuixStore('runbox-signed-root-');

/** Every regular file under dir whose content holds `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('signed snapshots through dist/', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
  });

  afterAll(async () => {
    await server?.stop();
    cleanupJobs();
    removeTempDirs();
  });

  test('post signs with signing-key from its input; the summary prints the trusted-keys line; the key is written nowhere', async () => {
    const root = tempDir('runbox-signed-save-');
    buildGuixLayout(root);
    const j = job(root);
    const m = await j.main({ ...BASE, key: SIGNED, 'signing-key': pemA });
    expect({ code: m.code, errors: m.errors }).toEqual({ code: 0, errors: [] });
    const p = await j.post();
    expect({ code: p.code, errors: p.errors, warnings: p.warnings }).toEqual({ code: 0, errors: [], warnings: [] });
    expect(p.summary).toContain(`saved ${SIGNED}`);
    expect(p.summary).toContain(lineA);
    // The private key's base64 body: in neither step's state nor any file the job left.
    const body = pemA.split('\n')[1];
    expect(JSON.stringify(m.state)).not.toContain(body);
    expect(filesHolding(j.root, body)).toEqual([]);
  });

  test('unsigned save for the checks below', async () => {
    const root = tempDir('runbox-signed-unsigned-');
    buildGuixLayout(root);
    const j = job(root);
    expect((await j.main({ ...BASE, key: UNSIGNED })).code).toBe(0);
    const p = await j.post();
    expect(p.code).toBe(0);
    expect(p.summary).toContain(`saved ${UNSIGNED}`);
    expect(p.summary).not.toContain('ed25519:');
  });

  test('trusted-keys with the signer: restored', async () => {
    const root = partialStore();
    const before = contentManifest(root);
    const j = job(root);
    const m = await j.main({ ...BASE, key: SIGNED, 'trusted-keys': `# the CI key\n${lineB}\n${lineA}` });
    expect({ code: m.code, errors: m.errors, warnings: m.warnings }).toEqual({ code: 0, errors: [], warnings: [] });
    expect(m.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': SIGNED });
    expect(contentManifest(root)).not.toEqual(before);
    expect((await j.post()).code).toBe(0);
  });

  test.each([
    { what: 'signed by another key', key: SIGNED, warning: `the snapshot ${SIGNED} is not trusted, continuing as on a cache miss: the entry is signed by ${lineA}, which is not in trusted-keys` },
    { what: 'unsigned', key: UNSIGNED, warning: `the snapshot ${UNSIGNED} is not trusted, continuing as on a cache miss: the entry is not signed, and trusted-keys is set` }
  ])('trusted-keys and an entry $what: a warning naming the key, a miss, the store untouched', async ({ key, warning }) => {
    const root = partialStore();
    const before = contentManifest(root);
    const j = job(root);
    const m = await j.main({ ...BASE, key, 'trusted-keys': lineB, save: 'never' });
    expect({ code: m.code, errors: m.errors }).toEqual({ code: 0, errors: [] });
    expect(m.warnings).toEqual([expect.stringContaining(warning)]);
    expect(m.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '' });
    expect(contentManifest(root)).toEqual(before);
    expect(stagingLeft(j)).toEqual([]);
    expect((await j.post()).code).toBe(0);
  });

  test('bad key material fails main before anything is created, naming the input', async () => {
    const root = partialStore();
    const before = contentManifest(root);
    const bad: Array<Record<string, string>> = [{ 'signing-key': pemA.replace(/[A-Za-z0-9]{10}/, '') }, { 'trusted-keys': 'ed25519:short' }];
    for (const inputs of bad) {
      const j = job(root);
      const m = await j.main({ ...BASE, key: SIGNED, ...inputs });
      expect(m.code).not.toBe(0);
      expect(m.errors.join('\n')).toMatch(new RegExp(`Input '${Object.keys(inputs)[0]}'`));
      expect(m.errors.join('\n')).not.toContain(pemA.split('\n')[1].slice(10, 40));
      expect(stagingLeft(j)).toEqual([]);
      expect(m.outputs['cache-primary-key']).toBeUndefined();
    }
    expect(contentManifest(root)).toEqual(before);
  });
});
