// Types for scripts/bench-report.mjs (its unit test imports it from TypeScript).
export interface Figure {
  s: number;
  cpu: number;
  up: number;
  down: number;
  disk?: number;
  fsExtra?: number;
  stagingPeak?: number;
  line?: string;
}
export type Round = Record<string, Figure>;
export interface SizeResult {
  mib: number;
  rateMB?: number;
  facts: { bytes: number; files: number; items: number; links: number; itemBytes: number };
  rounds: Round[];
  notes: { lines: Record<string, string>; checked: number; partialChecked: number; dropped: number; floorBytes: number; delta?: unknown };
}
export interface TargetRow {
  target: string;
  size: number;
  measured: string;
  met: boolean;
  by: string;
  where: string;
}
export function median(xs: number[]): number;
export function ratios(rounds: Round[]): Record<'save' | 'restore' | 'partial' | 'partialBytes' | 'capped' | 'baselineSave' | 'baselineRestore', number[]>;
export function phases(rounds: Round[], name: string): string;
export function evaluateTargets(result: SizeResult): TargetRow[];
export function renderReport(input: { machine: Record<string, unknown>; options: Record<string, unknown>; results: SizeResult[] }): string;
