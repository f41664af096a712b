// Strings from a cache entry reach the log: none may become a workflow command to the runner.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StepReport } from '../src/action/job-summary.js';
import { oneLine, shown, SHOWN_MAX } from '../src/common/untrusted-text.js';

const HOSTILE = ['::add-mask::secret', '::stop-commands::x', 'k\n::error file=a::pwned', '##[set-output name=x;]y', ' ::warning::z', 'a\r::debug::b', 'x\u2028::notice::y'];

/** True when some line of `out` is a command as the runner reads it (trimmed, `::` or `##[`). */
function hasCommand(out: string): boolean {
  return out.split(/\r\n|\n|\r/).some((l) => /^\s*(::|##\[)/.test(l));
}

describe('untrusted strings in logs', () => {
  test.each(HOSTILE)('shown() never yields a command line: %j', (s) => {
    const r = shown(s);
    expect(r.startsWith('"')).toBe(true);
    expect(hasCommand(r)).toBe(false);
    expect(hasCommand(`prefix ${r}`)).toBe(false);
    expect(r).not.toMatch(/[\u0000-\u001f\u2028]/);
  });

  test('shown() bounds, quotes and escapes', () => {
    expect(shown('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(shown('<img src=x>')).toBe('"\\u003cimg src=x\\u003e"');
    const long = shown('k'.repeat(90_000_000 / 1000));
    expect(long.length).toBeLessThan(SHOWN_MAX + 40);
    expect(long).toMatch(/\.\.\. \(90000 characters\)$/);
  });

  test.each(HOSTILE)('oneLine() keeps a whole line from being a command: %j', (s) => {
    expect(hasCommand(oneLine(s))).toBe(false);
    expect(hasCommand(oneLine(`store snapshot: restored ${s}`))).toBe(false);
  });

  test('the step report writes hostile details as one harmless line, and as text in the summary', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-untrusted-'));
    const summary = path.join(dir, 'summary');
    fs.writeFileSync(summary, '');
    const saved = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = summary;
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    };
    try {
      const r = new StepReport('t');
      r.add('store snapshot', HOSTILE.join('\n'));
      r.add('store leftovers', '<img src=https://evil/x> & more');
      await r.write();
    } finally {
      process.stdout.write = write;
      if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = saved;
    }
    const out = written.join('');
    const html = fs.readFileSync(summary, 'utf8');
    fs.rmSync(dir, { recursive: true, force: true });
    expect(hasCommand(out)).toBe(false);
    expect(out).toContain('store snapshot: ::add-mask::secret ⏎ ::stop-commands::x');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=https://evil/x&gt; &amp; more');
  });
});
