// Strings that come from a cache entry or a manifest are written by whoever could write the
// entry. core.info writes its message raw to stdout, where a line starting with `::` is a
// workflow command to the runner (`::add-mask::`, `::stop-commands::`, `::error file=...::`);
// core.warning/error escape newlines but keep everything else. So every such string goes
// through shown() before it reaches a log line or the summary.

/** How much of an untrusted string is shown. */
export const SHOWN_MAX = 200;

/**
 * A single-line, quoted, bounded rendering of `s`: control characters, newlines, quotes and
 * backslashes escaped, longer strings cut (the cut said), and never a line beginning with `::`
 * (the opening quote comes first). `<`, `>` and `&` are escaped too: the summary is HTML.
 */
export function shown(s: unknown, max = SHOWN_MAX): string {
  const { text, cut } = escape(s, max);
  return `"${text}"${cut}`;
}

/**
 * shown() without the quotes, for messages that quote a name themselves (`member '...'`).
 */
export function escapedText(s: unknown, max = SHOWN_MAX): string {
  const { text, cut } = escape(s, max);
  return `${text}${cut}`;
}

/** The escaped text, and the note that says it was cut (empty when it was not). */
function escape(s: unknown, max: number): { text: string; cut: string } {
  const text = typeof s === 'string' ? s : String(s);
  const cut = [...text];
  const body = cut.length > max ? cut.slice(0, max).join('') : text;
  const escaped = body.replace(/[\\"<>&\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '"') return '\\"';
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return { text: escaped, cut: cut.length > max ? `... (${cut.length} characters)` : '' };
}

/**
 * For a whole log line that may carry untrusted text somewhere inside: no line breaks (each
 * line of a multi-line message could start a command), and no line that, trimmed as the runner
 * trims it, starts a command (`::name::` or the older `##[name]`).
 */
export function oneLine(s: string): string {
  const flat = s.replace(/\r\n|[\r\n\u2028\u2029\u0085]/g, ' ⏎ ');
  return /^\s*(::|##\[)/.test(flat) ? `runbox: ${flat}` : flat;
}
