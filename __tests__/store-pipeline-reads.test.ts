// runPipeline's consumeInto: the last stage's output read into one reused buffer through a
// unix socket pair (what a restore reads zstd's output with), and a consumer's refusal stopping
// the stage. Real children, real sockets. (The fallback to the child's own pipe when no socket
// can be made is not reached here: jest gives the test its own process.env, os.tmpdir() reads
// the real one.)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { runPipeline } from '../src/store/pipeline.js';
import { removeTempDirs, tempDir } from './fixtures/store.js';
import { asRoot, describeWith } from './helpers/prereq.js';

afterAll(removeTempDirs);

/** `cat file` read with consumeInto: what arrived, and how many chunks were views of `buffer`. */
async function readThrough(file: string, socketDir?: string): Promise<{ data: Buffer; chunks: number; views: number }> {
  const buffer = Buffer.alloc(64 * 1024);
  const got: Buffer[] = [];
  let chunks = 0;
  let views = 0;
  await runPipeline([{ cmd: 'cat', args: ['--', file] }], {
    consumeInto: {
      buffer,
      ...(socketDir ? { socketDir } : {}),
      onChunk: async (chunk) => {
        chunks++;
        if (chunk.buffer === buffer.buffer) views++;
        got.push(Buffer.from(chunk));
        // Handled later than the read came: the next read must wait for this one.
        await new Promise((resolve) => setImmediate(resolve));
      },
      onEnd: () => Promise.resolve()
    }
  });
  return { data: Buffer.concat(got), chunks, views };
}

function randomFile(bytes: number): string {
  const file = path.join(tempDir('runbox-reads-'), 'data');
  fs.writeFileSync(file, crypto.randomBytes(bytes));
  return file;
}

test('the output arrives whole and in order, each read a view of the one buffer', async () => {
  const file = randomFile(3 * 1024 * 1024 + 17);
  const r = await readThrough(file);
  expect(r.data.equals(fs.readFileSync(file))).toBe(true);
  expect(r.chunks).toBeGreaterThan(1);
  expect(r.views).toBe(r.chunks);
});

test("the consumer's refusal is the pipeline's error, and stops a stage that would write forever", async () => {
  let chunks = 0;
  const run = runPipeline([{ cmd: 'yes', args: [] }], {
    consumeInto: {
      buffer: Buffer.alloc(4096),
      onChunk: () => {
        chunks++;
        return Promise.reject(new Error('refused'));
      },
      onEnd: () => Promise.resolve()
    }
  });
  await expect(run).rejects.toThrow('refused');
  expect(chunks).toBe(1);
});

describeWith([asRoot()])('as root', () => {
  test('the socket is never made in a dir another user may write to: the pipe is read instead, and nothing is made there', async () => {
    // A TMPDIR the runner user owns: it could rename root's fresh dir away and put a link to
    // /etc in its place before the bind.
    const home = tempDir('runbox-reads-home-');
    fs.chmodSync(home, 0o777);
    const file = randomFile(512 * 1024);
    const r = await readThrough(file, home);
    expect(r.data.equals(fs.readFileSync(file))).toBe(true);
    expect(r.views).toBe(0);
    expect(fs.readdirSync(home)).toEqual([]);
    // A root-owned dir only root may write to (under the sticky /tmp) takes the socket.
    const safe = tempDir('runbox-reads-safe-');
    fs.chmodSync(safe, 0o755);
    expect((await readThrough(file, safe)).views).toBeGreaterThan(0);
  });
});
