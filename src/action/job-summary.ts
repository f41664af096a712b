// A step's job summary: short, factual, one table of what happened. Written once at the end
// of the step (also on failure) so a reader sees what runbox created, reaped, restored or saved.
import * as core from '@actions/core';
import { oneLine } from '../common/untrusted-text.js';

export interface SummaryRow {
  what: string;
  detail: string;
}

export class StepReport {
  private readonly rows: SummaryRow[] = [];
  private readonly notes: string[] = [];

  constructor(private readonly title: string) {}

  add(what: string, detail: string): void {
    this.rows.push({ what, detail });
    // Details carry keys and error messages that may come from a cache entry: untrusted strings
    // should arrive through shown() already; this keeps a missed one from starting a command line.
    core.info(oneLine(`${what}: ${detail}`));
  }

  note(text: string): void {
    this.notes.push(text);
  }

  get entries(): readonly SummaryRow[] {
    return this.rows;
  }

  async write(): Promise<void> {
    if (!process.env.GITHUB_STEP_SUMMARY) return;
    const s = core.summary.addHeading(this.title, 3);
    if (this.rows.length > 0)
      s.addTable([
        [
          { data: 'what', header: true },
          { data: 'detail', header: true }
        ],
        ...this.rows.map((r) => [html(r.what), html(r.detail)])
      ]);
    else s.addRaw('Nothing to do.', true);
    for (const n of this.notes) s.addRaw(`\n\n${n}`, true);
    await s.write();
  }
}

/**
 * The summary is HTML: a row is text, never markup (details may quote a cache entry). On one
 * line, too: a blank line ends GFM's HTML block, and what follows it would render as markdown
 * (an image or link the entry's writer chose, below a table that looks like runbox's).
 */
function html(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r\n|[\r\n\u2028\u2029\u0085]/g, ' ⏎ ');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
