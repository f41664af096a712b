// The only tar stream root's `tar -x` ever reads during a restore: generated here from members
// that members.ts already checked, never copied from the snapshot. Every header byte comes from
// the checked fields (path, kind, size, executable bit, symlink target) and fixed canonical
// metadata, so tar cannot read anything node did not see: no pax record, long-name record,
// prefix field, type flag or numeric field of the snapshot passes through. Only file contents
// (the data blocks) are copied, and those are exactly `size` bytes, padded here with zeros.
//
// Format: GNU (`ustar  \0` magic), which GNU tar reads natively; names or link targets that do
// not fit the 100-byte fields get `L`/`K` long-name records generated here. Canonical metadata,
// what the Guix and Nix daemons give store items: uid/gid 0 (numeric), mtime 1, dirs 0555,
// files 0555 when the snapshot's mode had any x bit and 0444 otherwise, symlinks 0777. A hard
// link (type '1') is only ever emitted to a file emitted earlier into the same stream; tar makes
// it with link(2), so it is that file's inode, metadata and all.
export const BLOCK = 512;

/** `link`: a hard link to `target`, a file emitted earlier into the same stream (no data). */
export type CheckedKind = 'file' | 'dir' | 'symlink' | 'link';

export interface CheckedMember {
  /** Relative, normalised (no leading `/`, no trailing `/`, no `.`/`..`/empty components). */
  path: string;
  kind: CheckedKind;
  /** Data bytes that follow (files only; 0 otherwise). */
  size: number;
  /** Files: any x bit in the snapshot's mode (links: their target's). */
  executable: boolean;
  /** Symlinks: the target, as recorded. Links: the checked relative path of the file linked to. */
  target?: string;
}

export const CANONICAL_MTIME = 1;

/** The mode a member gets on disk (without the file type bits). */
export function canonicalMode(m: Pick<CheckedMember, 'kind' | 'executable'>): number {
  if (m.kind === 'dir') return 0o555;
  if (m.kind === 'symlink') return 0o777;
  // A link's header mode is not applied (the inode is its target's); it repeats the target's.
  return m.executable ? 0o555 : 0o444;
}

const TYPEFLAG: Record<CheckedKind, string> = { file: '0', dir: '5', symlink: '2', link: '1' };
/** Octal fields of 12 bytes hold 11 digits: below this, octal; at or above, GNU base-256. */
const OCTAL12_LIMIT = 8 ** 11;

function octal(h: Buffer, off: number, len: number, v: number): void {
  h.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

function numeric12(h: Buffer, off: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`canonical tar: ${v} is not a size`);
  if (v < OCTAL12_LIMIT) return octal(h, off, 12, v);
  // GNU base-256: high bit of the first byte set, big-endian value in the rest.
  let x = BigInt(v);
  for (let i = off + 11; i > off; i--) {
    h[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  h[off] = 0x80;
}

function block(name: Buffer, type: string, mode: number, size: number, link: Buffer): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0, 0, Math.min(name.length, 100));
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  numeric12(h, 124, size);
  octal(h, 136, 12, type === 'L' || type === 'K' ? 0 : CANONICAL_MTIME);
  h.write('        ', 148, 8, 'latin1');
  h.write(type, 156, 1, 'latin1');
  link.copy(h, 157, 0, Math.min(link.length, 100));
  h.write('ustar  \0', 257, 8, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

const ZEROS = Buffer.alloc(BLOCK);

/** Zeros that pad `size` data bytes to a whole block (a view of one shared zero block: never written to). */
export function padding(size: number): Buffer {
  return ZEROS.subarray(0, (BLOCK - (size % BLOCK)) % BLOCK);
}

/** A GNU `L`/`K` record carrying `value` (NUL-terminated), data padded. */
function longRecord(type: 'L' | 'K', value: Buffer): Buffer[] {
  const data = Buffer.concat([value, Buffer.alloc(1)]);
  return [block(Buffer.from('././@LongLink', 'latin1'), type, 0, data.length, Buffer.alloc(0)), data, padding(data.length)];
}

/** The header block(s) of one checked member; its data (files) follows, then padding(size). */
export function memberHeader(m: CheckedMember): Buffer {
  if (/[\0]/.test(m.path) || m.path === '' || m.path.startsWith('/') || m.path.endsWith('/')) throw new Error(`canonical tar: '${m.path}' is not a checked path`);
  if (m.kind !== 'file' && m.size !== 0) throw new Error(`canonical tar: ${m.kind} '${m.path}' with ${m.size} data bytes`);
  if ((m.kind === 'symlink' || m.kind === 'link') && (m.target === undefined || m.target === '' || m.target.includes('\0'))) throw new Error(`canonical tar: ${m.kind} '${m.path}' without a target`);
  if (m.kind === 'link' && (m.target as string).startsWith('/')) throw new Error(`canonical tar: link '${m.path}' to an absolute path`);
  const name = Buffer.from(m.kind === 'dir' ? `${m.path}/` : m.path, 'utf8');
  const link = Buffer.from(m.kind === 'symlink' || m.kind === 'link' ? (m.target as string) : '', 'utf8');
  const parts: Buffer[] = [];
  // >= 100: a name filling the field exactly has no NUL; readers differ on that, a record does not.
  if (link.length >= 100) parts.push(...longRecord('K', link));
  if (name.length >= 100) parts.push(...longRecord('L', name));
  parts.push(block(name, TYPEFLAG[m.kind], canonicalMode(m), m.size, link));
  return Buffer.concat(parts);
}

/** Two zero blocks: the end of the archive. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}
