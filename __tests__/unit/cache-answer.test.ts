// The cache client's answers come from node:http (not fetch's Response): the callers read the
// status, the headers by any case (the REST API's rate-limit headers decide a refusal's kind)
// and the body text as they did from a Response.
import { Answer, isRetryable } from '../../src/store/cache-service/http.js';

describe('Answer', () => {
  test('headers by any case, repeated ones joined, absent ones null; status and body', async () => {
    const a = new Answer(403, { 'x-ratelimit-remaining': '0', 'retry-after': '60', 'set-cookie': ['a=1', 'b=2'] }, Buffer.from('{"message":"limited"}'));
    expect(a.ok).toBe(false);
    expect(a.status).toBe(403);
    expect(a.headers.get('X-RateLimit-Remaining')).toBe('0');
    expect(a.headers.has('Retry-After')).toBe(true);
    expect(a.headers.get('Set-Cookie')).toBe('a=1, b=2');
    expect(a.headers.get('x-ratelimit-reset')).toBeNull();
    expect(a.headers.has('x-ratelimit-reset')).toBe(false);
    expect(await a.text()).toBe('{"message":"limited"}');
  });

  test('ok is exactly 2xx', () => {
    expect([199, 200, 204, 299, 300, 404].map((s) => new Answer(s, {}, Buffer.alloc(0)).ok)).toEqual([false, true, true, true, false, false]);
  });

  test("a body that is not UTF-8 text is decoded as fetch's text() did (replacement characters)", async () => {
    expect(await new Answer(200, {}, Buffer.from([0x61, 0xff, 0x62])).text()).toBe('a\ufffdb');
  });
});

describe('isRetryable, for the errors node:http gives', () => {
  test.each([
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), true],
    ["the RPC's own timeout", Object.assign(new Error('POST x: no whole answer within 60 s'), { code: 'ETIMEDOUT' }), true],
    ['an answer past the size bound', new Error("GET x: the answer is more than 8388608 bytes, not a cache service's"), false]
  ])('%s', (_what, e, retry) => {
    expect(isRetryable(e)).toBe(retry);
  });
});
