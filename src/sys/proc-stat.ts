// /proc/<pid>/stat, read by the keeper (is the runner worker still there?), by post (has the
// keeper let go?) and by the store's markers (is the restore that left this still running?).
// No runbox or @actions imports: dist/keeper.js bundles it and stays dependency-free.
import fs from 'node:fs';

export interface ProcStat {
  /** State letter: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  /** Field 22, clock ticks since boot: with the pid, it names one process across pid reuse. */
  startTime: string;
}

/** undefined when there is no such process (or thread `tid` of it). */
export function procStat(pid: number, tid?: string): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw e;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0], startTime: rest[19] };
}
