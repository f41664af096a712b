// pipeline.ts HandOff: a child's output read into one reused buffer, pulled by a for-await
// consumer. The buffer may be filled again only once the consumer asked for the next chunk.
import { describe, expect, test } from '@jest/globals';
import { HandOff } from '../../src/store/pipeline.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('HandOff', () => {
  test('a chunk counts as read only when the next is asked for; the end comes after the last', async () => {
    const h = new HandOff();
    const it = h[Symbol.asyncIterator]();
    let done = false;
    const first = h.onChunk(Buffer.from('a')).then(() => (done = true));
    expect(String((await it.next()).value)).toBe('a');
    await tick();
    // Handed over, but the consumer may still be reading it.
    expect(done).toBe(false);
    const second = it.next();
    await first;
    expect(done).toBe(true);
    const two = h.onChunk(Buffer.from('b'));
    expect(String((await second).value)).toBe('b');
    h.end();
    const last = await it.next();
    await two;
    expect(last.done).toBe(true);
  });

  test('a consumer that stops: the chunk it held and every later one are refused, so the reader stops', async () => {
    const h = new HandOff();
    const it = h[Symbol.asyncIterator]();
    const held = h.onChunk(Buffer.from('a'));
    await it.next();
    await it.return?.();
    await expect(held).rejects.toThrow('the consumer stopped reading');
    await expect(h.onChunk(Buffer.from('b'))).rejects.toThrow('the consumer stopped reading');
  });

  test('stop() before the consumer read anything (its sink failed first): the waiting chunk is refused', async () => {
    const h = new HandOff();
    const waiting = h.onChunk(Buffer.from('a'));
    h.stop();
    await expect(waiting).rejects.toThrow('the consumer stopped reading');
  });

  test('a pipeline failure ends a waiting consumer with that error', async () => {
    const h = new HandOff();
    const consumer = (async () => {
      for await (const b of h) void b;
    })();
    await tick();
    h.fail(new Error('tar exited with 2'));
    await expect(consumer).rejects.toThrow('tar exited with 2');
  });
});
