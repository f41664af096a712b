// How main and post end (steps/run-step.ts): a failing body fails the step and leads the summary
// with its error; the summary is written once whatever happens; a cancel in the middle of the body
// writes the summary with the cancel row, and nothing of the step stays registered afterwards.
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCleanups } from '../src/action/on-cancel.js';
import { StepReport } from '../src/action/job-summary.js';
import { runStep } from '../src/steps/run-step.js';

let dir: string;
let summary: string;
const saved = process.env.GITHUB_STEP_SUMMARY;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-run-step-'));
  summary = path.join(dir, 'summary.md');
  // @actions/core remembers the summary file's path on first use: one file for this test file.
  process.env.GITHUB_STEP_SUMMARY = summary;
});
afterEach(() => {
  fs.writeFileSync(summary, '');
  // setFailed sets it; the test process must not end failed for a failure on purpose.
  process.exitCode = 0;
});
afterAll(() => {
  if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
  else process.env.GITHUB_STEP_SUMMARY = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('runStep', () => {
  test('a body that throws fails the step, and the summary leads with its error and keeps its rows', async () => {
    fs.writeFileSync(summary, '');
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const report = new StepReport('runbox: test');
      await runStep(report, 'stopped', () => {
        report.add('made', '/srv/runbox/x');
        return Promise.reject(new Error('input `dirs` is wrong: fix it'));
      });
      const logged = out.mock.calls.map((c) => String(c[0])).join('');
      expect(logged).toContain('::error::input `dirs` is wrong: fix it');
    } finally {
      out.mockRestore();
    }
    expect(process.exitCode).toBe(1);
    const s = fs.readFileSync(summary, 'utf8');
    expect(s).toContain('<h3>runbox: test</h3>');
    expect(s).toContain('<strong>failed:</strong> input `dirs` is wrong: fix it');
    expect(s).toContain('/srv/runbox/x');
    expect(s).not.toContain('cancelled');
    // Written once: one heading.
    expect(s.split('runbox: test').length).toBe(2);
  });

  test('a body that succeeds writes the summary once and does not fail the step', async () => {
    const report = new StepReport('runbox: ok');
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await runStep(report, undefined, () => Promise.resolve(report.add('removed', '/srv/runbox/y')));
    } finally {
      out.mockRestore();
    }
    expect(process.exitCode).not.toBe(1);
    const s = fs.readFileSync(summary, 'utf8');
    expect(s.split('runbox: ok').length).toBe(2);
    expect(s).toContain('/srv/runbox/y');
    expect(s).not.toContain('failed:');
  });

  test('a cancel during the body writes the summary with the cancel row; after the step, a cancel writes nothing', async () => {
    const report = new StepReport('runbox: cancel');
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await runStep(report, 'main was stopped by a signal', async () => {
        report.add('made', '/srv/runbox/z');
        // What exitOnTermination does on SIGTERM, minus the exit.
        await runCleanups();
        const s = fs.readFileSync(summary, 'utf8');
        expect(s).toContain('<td>cancelled</td><td>main was stopped by a signal</td>');
        expect(s).toContain('/srv/runbox/z');
      });
      fs.writeFileSync(summary, '');
      await runStep(new StepReport('runbox: later'), 'no', () => Promise.resolve());
      fs.writeFileSync(summary, '');
      // Neither step left its summary cleanup registered.
      await runCleanups();
    } finally {
      out.mockRestore();
    }
    expect(fs.readFileSync(summary, 'utf8')).toBe('');
  });
});
