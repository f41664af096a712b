// Proving downloaded snapshot files intact: each one's sha256 against the manifest's. The
// archives themselves are read, checked and extracted in private-extract.ts.
import crypto from 'node:crypto';
import fs, { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { FileRecord } from './manifest.js';
import { runPipeline } from './pipeline.js';

export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

/** Throws IntegrityError when `got` is not the sha256 recorded at save time. */
export function checkDigest(got: string, rec: FileRecord): void {
  if (got !== rec.sha256) throw new IntegrityError(`${rec.file}: sha256 ${got} differs from ${rec.sha256} recorded at save time (corrupt or truncated download)`);
}

/** Checks a downloaded file against the checksum recorded at save time. */
export async function verifyFile(file: string, rec: FileRecord): Promise<void> {
  checkDigest(await sha256File(file), rec);
}

/** Decompresses a verified DB copy into the scratch dir. */
export async function decompressTo(file: string, dest: string): Promise<void> {
  await runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', file] }], {
    consume: (out) => pipeline(out, fs.createWriteStream(dest, { flags: 'wx' }))
  });
}
