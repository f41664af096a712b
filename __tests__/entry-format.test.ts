// The runbox entry v2 container against hostile blobs: every bound of the trailer and index, names
// that would escape the staging dir, files that do not match their hash, and signatures with
// trusted-keys. Each blob here is built by hand (not by the writer), as an attacker would.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { inputsFrom } from '../src/action/input-source.js';
import { parseStoreConfig } from '../src/store/config.js';
import {
  CHUNK_BYTES,
  encodeTrailer,
  EntryFormatError,
  EntryIntegrityError,
  EntryTrustError,
  MAX_INDEX_BYTES,
  parseTrustedKey,
  publicKeyLine,
  SIGNED_PREFIX,
  TRAILER_BYTES,
  type TrustedKey
} from '../src/store/entry/index.js';
import { fileChunks, readEntry, type RangeSource } from '../src/store/entry/reader.js';
import { entryRange, planEntry } from '../src/store/entry/writer.js';
import { shown } from '../src/common/untrusted-text.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'entry-format-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A fresh staging parent; the reader writes `<parent>/runbox-snapshot`. */
function dest(): string {
  const p = path.join(tmp, `staging-${n++}`);
  fs.mkdirSync(p);
  return path.join(p, 'runbox-snapshot');
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** The index's chunk digests of `b`: one sha256 per CHUNK_BYTES piece. */
const chunksOf = (b: Buffer): string[] => Array.from({ length: Math.ceil(b.length / CHUNK_BYTES) }, (_, i) => sha(b.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)));

interface F {
  name: string;
  data: Buffer;
  offset?: number;
  length?: number;
  sha256?: string;
  chunks?: string[];
}

function rawPub(k: KeyObject): Buffer {
  return Buffer.from(k.export({ format: 'jwk' }).x as string, 'base64url');
}

/** A container built by hand; every field overridable. */
function container(files: F[], o: { index?: Buffer | string; sig?: Buffer; signWith?: KeyObject; trailer?: Buffer; extra?: Buffer } = {}): Buffer {
  let offset = 0;
  const entries = files.map((f) => {
    const e = { name: f.name, offset: f.offset ?? offset, length: f.length ?? f.data.length, sha256: f.sha256 ?? sha(f.data), chunks: f.chunks ?? chunksOf(f.data) };
    offset += f.data.length;
    return e;
  });
  const index = o.index === undefined ? Buffer.from(JSON.stringify({ files: entries })) : Buffer.from(o.index);
  const sig = o.sig ?? (o.signWith ? Buffer.concat([rawPub(o.signWith), sign(null, Buffer.concat([SIGNED_PREFIX, index]), o.signWith)]) : Buffer.alloc(0));
  const trailer = o.trailer ?? encodeTrailer({ indexLength: index.length, signatureLength: sig.length });
  return Buffer.concat([...files.map((f) => f.data), o.extra ?? Buffer.alloc(0), index, sig, trailer]);
}

/** An in-memory RangeSource that records what was asked for. */
function source(blob: Buffer): RangeSource & { reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = [];
  return {
    size: blob.length,
    reads,
    read(offset, length) {
      reads.push([offset, length]);
      if (offset < 0 || length < 0 || offset + length > blob.length) throw new Error(`read ${offset}+${length} outside the ${blob.length}-byte blob`);
      // eslint-disable-next-line @typescript-eslint/require-await -- an async generator is how this stand-in returns the AsyncIterable that read() must, with nothing to await
      return (async function* () {
        // Odd chunking so file boundaries fall inside chunks.
        for (let p = offset; p < offset + length; p += 7777) yield blob.subarray(p, Math.min(offset + length, p + 7777));
      })();
    }
  };
}

async function collect(r: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c);
  return Buffer.concat(parts);
}

const manifest = (): F => ({ name: 'manifest.json', data: Buffer.from('{"version":1}') });
const good = (): F[] => [manifest(), { name: 'store-0.tar.zst', data: Buffer.alloc(20000, 7) }, { name: 'db/db.sqlite.zst', data: Buffer.from('db') }];

async function refused(blob: Buffer, pattern: RegExp, trustedKeys: TrustedKey[] = [], cls: new (m: string) => Error = EntryFormatError): Promise<string> {
  const d = dest();
  let err: unknown;
  try {
    await readEntry(source(blob), d, { trustedKeys });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(pattern);
  // Nothing of a refused entry stays on disk.
  expect(fs.existsSync(d)).toBe(false);
  return (err as Error).message;
}

function trusted(k: KeyObject): TrustedKey {
  const t = parseTrustedKey(publicKeyLine(k));
  if (typeof t === 'string') throw new Error(t);
  return t;
}
const keyA = generateKeyPairSync('ed25519').privateKey;
const keyB = generateKeyPairSync('ed25519').privateKey;

describe('well-formed entries', () => {
  test('a hand-built entry is written file by file', async () => {
    const d = dest();
    const r = await readEntry(source(container(good())), d, { trustedKeys: [] });
    expect(r.files.map((f) => f.name)).toEqual(['manifest.json', 'store-0.tar.zst', 'db/db.sqlite.zst']);
    expect(fs.readFileSync(path.join(d, 'store-0.tar.zst')).equals(Buffer.alloc(20000, 7))).toBe(true);
    expect(fs.readFileSync(path.join(d, 'db/db.sqlite.zst'), 'utf8')).toBe('db');
    expect(fs.statSync(path.join(d, 'manifest.json')).mode & 0o777).toBe(0o600);
  });

  test('writer and reader agree; any range of the entry is the same bytes', async () => {
    const src = path.join(tmp, 'writer-src');
    fs.mkdirSync(path.join(src, 'db'), { recursive: true });
    fs.writeFileSync(path.join(src, 'manifest.json'), '{}');
    fs.writeFileSync(path.join(src, 'store-0.tar.zst'), Buffer.alloc(100_000, 1));
    fs.writeFileSync(path.join(src, 'store-1.tar.zst'), '');
    fs.writeFileSync(path.join(src, 'db', 'x.zst'), 'y');
    const plan = await planEntry(src, keyA);
    const whole = await collect(entryRange(plan, 0, plan.size));
    expect(whole.length).toBe(plan.size);
    const mid = await collect(entryRange(plan, 99_000, 100_010));
    expect(mid.equals(whole.subarray(99_000, 100_010))).toBe(true);
    const d = dest();
    const r = await readEntry(source(whole), d, { trustedKeys: [trusted(keyA)] });
    expect(r).toMatchObject({ verified: true, signer: publicKeyLine(keyA) });
    expect(fs.readdirSync(d).sort()).toEqual(['db', 'manifest.json', 'store-0.tar.zst', 'store-1.tar.zst']);
  });

  test('the writer refuses a staging dir with a symlink or 300 files', async () => {
    const src = path.join(tmp, 'writer-bad');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'manifest.json'), '{}');
    fs.symlinkSync('/etc/passwd', path.join(src, 'store-0.tar.zst'));
    await expect(planEntry(src)).rejects.toThrow(/not a regular file/);
    fs.rmSync(path.join(src, 'store-0.tar.zst'));
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(src, `f${i}`), '');
    await expect(planEntry(src)).rejects.toThrow(/more than the 256/);
  });
});

describe('hostile trailers', () => {
  test('a blob shorter than a trailer', async () => {
    await refused(Buffer.from('RBXENT01'), /too small/);
  });
  test('a truncated trailer (the last byte cut off)', async () => {
    const b = container(good());
    await refused(b.subarray(0, b.length - 1), /trailer|reserved|fit/);
  });
  test('an old @actions/cache tar.zst is not an entry', async () => {
    await refused(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(600)]), /does not end in a runbox entry v2 trailer/);
  });
  test('non-zero reserved bytes', async () => {
    const b = container(good());
    b[b.length - 1] = 1;
    await refused(b, /reserved/);
  });
  test('an index length pointing outside the blob', async () => {
    const b = container(good());
    b.writeBigUInt64LE(BigInt(b.length), b.length - TRAILER_BYTES + 8);
    await refused(b, /do not fit/);
  });
  test('a huge index length is refused before it is fetched', async () => {
    const b = container(good());
    b.writeBigUInt64LE(2n ** 63n, b.length - TRAILER_BYTES + 8);
    const src = source(b);
    await expect(readEntry(src, dest(), { trustedKeys: [] })).rejects.toThrow(/more than the 2097152/);
    expect(src.reads).toEqual([[b.length - TRAILER_BYTES, TRAILER_BYTES]]);
  });
  test('an index over 2 MiB, in bounds of the blob', async () => {
    const pad = ' '.repeat(MAX_INDEX_BYTES);
    await refused(container(good(), { index: `{"files":[]}${pad}` }), /more than the 2097152/);
  });
  test('a signature length other than 0 or 96', async () => {
    await refused(container(good(), { sig: Buffer.alloc(64) }), /not 0 or 96/);
  });
});

describe('hostile indexes', () => {
  const idx = (files: object[]): string => JSON.stringify({ files });
  const m = manifest();
  const s = { name: 'store-0.tar.zst', data: Buffer.from('abcdef') };
  const e = (f: F, offset: number, extra: object = {}): object => ({ name: f.name, offset, length: f.data.length, sha256: sha(f.data), chunks: chunksOf(f.data), ...extra });

  test('overlapping offsets', async () => {
    await refused(container([m, s], { index: idx([e(m, 0), e(s, 0)]) }), /starts at 0, not at 13/);
  });
  test('a gap between files', async () => {
    await refused(container([m, s], { index: idx([e(m, 0), e(s, 14)]) }), /not at 13/);
  });
  test('trailing bytes between the last file and the index', async () => {
    await refused(container([m, s], { extra: Buffer.from('smuggled') }), /8 bytes are unaccounted/);
  });
  test('a length running into the index', async () => {
    await refused(container([m, s], { index: idx([e(m, 0), { ...e(s, 13), length: 1000 }]) }), /does not fit before the index/);
  });
  test('negative, fractional and string offsets or lengths', async () => {
    await refused(container([m, s], { index: idx([e(m, 0), { ...e(s, 13), length: -1 }]) }), /length -1/);
    await refused(container([m, s], { index: idx([e(m, 0), e(s, 13.5)]) }), /starts at 13.5/);
    await refused(container([m, s], { index: idx([e(m, 0), e(s, 13, { offset: '13' })]) }), /starts at string/);
  });
  test('duplicate names', async () => {
    const m2 = { name: 'manifest.json', data: Buffer.from('{"version":2}') };
    await refused(container([m, m2]), /manifest.json is listed twice/);
  });
  test.each(['../x', '/abs', 'db/../x', 'db/', 'db/sub/x', 'a/b', '.hidden', '..', '', 'x y', 'é', 'db\\x'])('the name %j', async (name) => {
    await refused(container([m, { name, data: Buffer.from('x') }]), /not a plain snapshot file name/);
  });
  test('a name with a newline and a workflow command is escaped in the message', async () => {
    const msg = await refused(container([m, { name: 'x\n::error::pwned', data: Buffer.from('x') }]), /not a plain snapshot file name/);
    expect(msg).not.toMatch(/\n/);
    expect(msg).toContain('"x\\n::error::pwned"');
    expect(shown('\n::warning::x').startsWith('"')).toBe(true);
  });
  test('a file db next to files under db/', async () => {
    await refused(container([m, { name: 'db', data: Buffer.from('x') }, { name: 'db/y', data: Buffer.from('y') }]), /both a file db and files under db/);
  });
  test('300 files', async () => {
    const files = [m, ...Array.from({ length: 299 }, (_, i) => ({ name: `f${i}`, data: Buffer.from([i & 0xff]) }))];
    await refused(container(files), /300 files, more than 256/);
  });
  test('no manifest.json, no files, extra fields, not JSON, not UTF-8', async () => {
    await refused(container([s]), /no manifest.json/);
    await refused(container([], { index: idx([]) }), /no file/);
    await refused(container([m], { index: JSON.stringify({ files: [e(m, 0)], more: 1 }) }), /exactly one field/);
    await refused(container([m], { index: idx([e(m, 0, { mode: 0o4755 })]) }), /exactly the fields/);
    await refused(container([m], { index: '{"files":[' }), /not JSON/);
    await refused(container([m], { index: Buffer.from([0x7b, 0xff, 0x7d]) }), /not valid UTF-8/);
    await refused(container([m], { index: idx([e(m, 0, { sha256: 'AB'.repeat(32) })]) }), /lowercase hex sha256/);
  });

  test('chunk digests: exactly one per CHUNK_BYTES piece, each a lowercase hex sha256', async () => {
    const m = manifest();
    await refused(container([m], { index: idx([e(m, 0, { chunks: [] })]) }), /does not list exactly 1 chunk digests/);
    await refused(container([m], { index: idx([e(m, 0, { chunks: [sha(m.data), sha(m.data)] })]) }), /does not list exactly 1 chunk digests/);
    await refused(container([m], { index: idx([e(m, 0, { chunks: 'x' })]) }), /does not list exactly 1 chunk digests/);
    await refused(container([m], { index: idx([e(m, 0, { chunks: ['AB'.repeat(32)] })]) }), /chunk digest that is no lowercase hex sha256/);
    await refused(container([m], { index: idx([e(m, 0, { chunks: [7] })]) }), /chunk digest that is no lowercase hex sha256/);
  });
});

describe('file contents', () => {
  test('a tampered chunk under the original index: the chunks before it are handed on, not a byte of it', async () => {
    // 2.5 chunks; the index is made from the original bytes, then one byte of chunk 1 flipped.
    const data = Buffer.from(Buffer.alloc(CHUNK_BYTES * 2 + CHUNK_BYTES / 2).map((_, i) => (i * 131) & 0xff));
    const files: F[] = [manifest(), { name: 'store-0.tar.zst', data, sha256: sha(data), chunks: chunksOf(data) }];
    const blob = container(files);
    const at = manifest().data.length + CHUNK_BYTES + 12345;
    blob[at] ^= 0x01;
    const src = source(blob);
    const f = { name: 'store-0.tar.zst', offset: manifest().data.length, length: data.length, sha256: sha(data), chunks: chunksOf(data) };
    const handed: Buffer[] = [];
    const read = async (): Promise<void> => {
      // Copied: a piece is valid only until the next is asked for.
      for await (const b of fileChunks(src, f)) handed.push(Buffer.from(b));
    };
    await expect(read()).rejects.toThrow(/store-0.tar.zst: chunk 1 \(bytes 4194304-8388607\) has sha256 [0-9a-f]{64}, the index says [0-9a-f]{64}; none of it was used/);
    // Chunk 0 exactly, and nothing of chunk 1.
    expect(handed.reduce((n, b) => n + b.length, 0)).toBe(CHUNK_BYTES);
    expect(Buffer.concat(handed).equals(data.subarray(0, CHUNK_BYTES))).toBe(true);
    // The whole-entry reader refuses the same blob and leaves nothing.
    await refused(blob, /chunk 1 .* none of it was used/, [], EntryIntegrityError);
  });

  test('a wrong sha256: the staging dir is removed, files written before it too', async () => {
    const files = good();
    files[2].sha256 = sha(Buffer.from('other'));
    await refused(container(files), /db\/db.sqlite.zst has sha256 [0-9a-f]{64}, the index says/, [], EntryIntegrityError);
  });
  test('a mismatch stops the download: the data stream is closed, not left open', async () => {
    const files = good();
    files[0].sha256 = sha(Buffer.from('other'));
    const src = source(container(files));
    let closed = false;
    const tracked: RangeSource = {
      size: src.size,
      read(o, l) {
        const inner = src.read(o, l)[Symbol.asyncIterator]();
        return {
          [Symbol.asyncIterator]: () => ({
            next: () => inner.next(),
            return: async () => {
              closed = true;
              return (await inner.return?.()) ?? { done: true as const, value: undefined };
            }
          })
        };
      }
    };
    await expect(readEntry(tracked, dest(), { trustedKeys: [] })).rejects.toThrow(EntryIntegrityError);
    expect(closed).toBe(true);
  });
  test('a source that returns fewer bytes than asked', async () => {
    const b = container(good());
    const src = source(b);
    const short: RangeSource = { size: src.size, read: (o, l) => (o === 0 ? src.read(0, l - 10) : src.read(o, l)) };
    const d = dest();
    await expect(readEntry(short, d, { trustedKeys: [] })).rejects.toThrow(EntryIntegrityError);
    expect(fs.existsSync(d)).toBe(false);
  });
  test('an existing destination is refused and left alone', async () => {
    const d = dest();
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'mine'), 'keep');
    await expect(readEntry(source(container(good())), d, { trustedKeys: [] })).rejects.toThrow(/EEXIST/);
    expect(fs.readFileSync(path.join(d, 'mine'), 'utf8')).toBe('keep');
  });
  test('not enough free space: names the path and both byte counts, writes nothing', async () => {
    const d = dest();
    const err = await readEntry(source(container(good())), d, { trustedKeys: [], reserveBytes: 2 ** 52 }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`not enough free space in ${path.dirname(d)}.*: \\d+ bytes needed .*, \\d+ bytes free`));
    expect(fs.existsSync(d)).toBe(false);
  });
});

describe('signatures with trusted-keys', () => {
  test('a good signature passes', async () => {
    const r = await readEntry(source(container(good(), { signWith: keyA })), dest(), { trustedKeys: [trusted(keyB), trusted(keyA)] });
    expect(r).toMatchObject({ verified: true, signer: publicKeyLine(keyA) });
  });
  test('unsigned', async () => {
    await refused(container(good()), /not signed, and trusted-keys is set/, [trusted(keyA)], EntryTrustError);
  });
  test('signed by an unknown key: named, and the index is never parsed', async () => {
    // The index is not even JSON: the trust check must come first.
    const msg = await refused(container(good(), { index: '{not json', signWith: keyB }), /signed by ed25519:\S+, which is not in trusted-keys/, [trusted(keyA)], EntryTrustError);
    expect(msg).toContain(publicKeyLine(keyB));
  });
  test('a bad signature (the index changed after signing)', async () => {
    const signed = container(good(), { signWith: keyA });
    const files = good();
    files[1].sha256 = sha(Buffer.from('evil'));
    const idx = Buffer.from(
      JSON.stringify({ files: files.map((f, i) => ({ name: f.name, offset: [0, 13, 20013][i], length: f.data.length, sha256: f.sha256 ?? sha(f.data), chunks: chunksOf(f.data) })) })
    );
    // Reuse the signature over the original index with the tampered one.
    const sigStart = signed.length - TRAILER_BYTES - 96;
    const forged = container(good(), { index: idx, sig: signed.subarray(sigStart, sigStart + 96) });
    await refused(forged, new RegExp(`signature by ${publicKeyLine(keyA).replace(/[+/]/g, '\\$&')} does not match`), [trusted(keyA)], EntryTrustError);
  });
  test('a signed entry without trusted-keys is read, signature unchecked', async () => {
    const r = await readEntry(source(container(good(), { signWith: keyB })), dest(), { trustedKeys: [] });
    expect(r).toMatchObject({ verified: false, signer: publicKeyLine(keyB) });
  });
});

describe('inputs', () => {
  const parse = (v: Record<string, string>) => parseStoreConfig(inputsFrom({ store: 'nix', ...v }), { RUNNER_TEMP: '/tmp/rt' });
  test('signing-key and trusted-keys are checked in main, naming the input and the fix', () => {
    expect(() => parse({ 'signing-key': 'not a key' })).toThrow(/Input 'signing-key': it is not a PEM private key.*tools\/keygen.mjs/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    expect(() => parse({ 'signing-key': rsa })).toThrow(/Input 'signing-key': it is a rsa key, not ed25519/);
    expect(() => parse({ 'trusted-keys': 'ssh-ed25519 AAAA' })).toThrow(/Input 'trusted-keys':.*does not start with ed25519:/);
    expect(() => parse({ 'trusted-keys': 'ed25519:AAAA' })).toThrow(/Input 'trusted-keys':.*base64 of 32 bytes/);
    expect(() => parseStoreConfig(inputsFrom({ 'trusted-keys': publicKeyLine(keyA) }))).toThrow(/Input 'trusted-keys': it is set while 'store' is empty/);
  });
  test('valid keys parse; a signing-key message never echoes the key', () => {
    const pem = keyA.export({ format: 'pem', type: 'pkcs8' }) as string;
    const cfg = parse({ 'signing-key': pem, 'trusted-keys': `# ci key\n${publicKeyLine(keyA)}\n${publicKeyLine(keyB)}` });
    expect(cfg?.trustedKeys.map((k) => k.id)).toEqual([publicKeyLine(keyA), publicKeyLine(keyB)]);
    const broken = pem.replace(/[A-Za-z0-9]{8}/, 'AAAAAAAA');
    let msg = '';
    try {
      parse({ 'signing-key': broken.slice(0, -30) });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/Input 'signing-key'/);
    for (const line of pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-'))) expect(msg).not.toContain(line.slice(8, 40));
  });
});
