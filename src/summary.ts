// A step's job summary: short, factual, one table of what happened. Written once at the end
// of the step (also on failure) so a reader sees what runbox created, reaped, restored or saved.
import * as core from '@actions/core';

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
    core.info(`${what}: ${detail}`);
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
        ...this.rows.map((r) => [r.what, r.detail])
      ]);
    else s.addRaw('Nothing to do.', true);
    for (const n of this.notes) s.addRaw(`\n\n${n}`, true);
    await s.write();
  }
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
