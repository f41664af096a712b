// A snapshot is untrusted input for root: anyone who can write the repo's cache can write an
// entry under our key. This is the only reader of a snapshot's archives: every member is parsed
// here, from the decompressed stream, checked, and handed on as a CheckedMember, from which
// canonical-tar.ts writes the stream root's tar extracts (tar never sees these bytes). One bad
// member refuses the whole archive. The parser reads ustar and GNU headers, pax `x` records and
// GNU `L`/`K` long names, and refuses whatever GNU tar could read differently (see TarParser)
// or runbox never writes: devices, FIFOs, sparse and contiguous files, dot-entries of a store
// dir, a path twice, a member before its parent dir, and every hard link but one to a regular
// file that an earlier member of the same archive wrote in full (what tar writes for a file with
// several names: the data at its first name, a link at the others). Top-level entries named like
// a daemon lock file (`<item>.lock`) are checked like the rest and then left out.
import type { Readable } from 'node:stream';
import type { CheckedMember } from './canonical-tar.js';
import { escapedText } from '../common/untrusted-text.js';

export const BLOCK = 512;
/** pax and long-name payloads are names, not data; anything bigger is an attack or garbage. */
const MAX_META = 1024 * 1024;

export interface TarMember {
  /** As tar will see it: pax path > GNU long name > ustar prefix/name. */
  name: string;
  /** The raw typeflag character ('0', '5', ...; '\0' for old regular files). */
  type: string;
  linkname: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

export class UnsafeArchiveError extends Error {
  constructor(
    readonly member: string,
    reason: string
  ) {
    // The name is the snapshot's: escaped, so it can neither break the log line nor the summary.
    super(`member '${escapedText(member).replace(/'/g, "\\'")}' ${reason}`);
    this.name = 'UnsafeArchiveError';
  }
}

// Names must decode exactly: a lossy decode (invalid UTF-8 -> U+FFFD) would make the checks,
// the exclude list and the disk probes talk about a different byte string than tar extracts.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new TarFormatError(`a member name is not valid UTF-8 (${Buffer.from(bytes).toString('latin1').slice(0, 80)})`);
  }
}

function cstring(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return decodeName(buf.subarray(start, end === -1 || end > start + len ? start + len : end));
}

/** Octal (with NUL/space padding) or GNU base-256 (high bit set) numeric field. */
export function parseNumeric(buf: Buffer, start: number, len: number, field: string): number {
  const first = buf[start];
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`negative base-256 ${field}`);
    let v = first & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i];
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`${field} too large`);
    return v;
  }
  const s = buf
    .toString('latin1', start, start + len)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad octal ${field} '${escapedText(s)}'`);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw new TarFormatError(`${field} too large`);
  return v;
}

function checksumOk(h: Buffer): boolean {
  const stored = parseNumeric(h, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** pax extended header records: `<len> <key>=<value>\n`, len counting the whole record. */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break; // NUL padding after the last record
    const sp = data.indexOf(0x20, off);
    if (sp === -1) throw new TarFormatError('pax record without length');
    const lenStr = data.toString('latin1', off, sp);
    if (!/^[1-9][0-9]*$/.test(lenStr)) throw new TarFormatError(`bad pax record length '${escapedText(lenStr)}'`);
    const len = Number(lenStr);
    if (off + len > data.length || data[off + len - 1] !== 0x0a) throw new TarFormatError('pax record overruns its header');
    const rec = decodeName(data.subarray(sp + 1, off + len - 1));
    const eq = rec.indexOf('=');
    if (eq <= 0) throw new TarFormatError('pax record without key');
    // GNU tar takes the last of a repeated key; refused, so no reader has to choose.
    if (out.has(rec.slice(0, eq))) throw new TarFormatError(`pax key '${escapedText(rec.slice(0, eq), 60)}' given twice`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

type State = 'header' | 'data' | 'skip' | 'collect' | 'trailer';

/** pax keys GNU tar writes for runbox's archives (--format=posix); any other key is refused,
 * so no record that tar would act on and this parser would ignore can exist. */
const PAX_KEYS = new Set(['path', 'linkpath', 'size', 'mtime', 'uid', 'gid', 'uname', 'gname', 'atime', 'ctime']);

/** Bytes an archive may carry after its end-of-archive block: tar's padding to its record
 * size (10240 bytes by default; 1 MiB is a blocking factor of 2048). */
export const MAX_TRAILER_BYTES = 1024 * 1024;

/**
 * Push parser: write() chunks of the uncompressed tar stream, then end(). Throws TarFormatError.
 * `onMember` sees each member's header (extended headers applied); `onData` then gets exactly its
 * `size` data bytes, in order, without the padding, as views of the chunk written. Nothing of a
 * chunk is kept once write() returns.
 *
 * Stricter than GNU tar wherever the two could read the same bytes differently: at most one pax
 * `x` header per member and never together with a GNU long-name record (tar keeps only the last
 * of two, a merging reader would see both), at most one `L` and one `K`, only known pax keys.
 */
export class TarParser {
  private state: State = 'header';
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0; // bytes left in the current state ('data', 'skip' or 'collect')
  private padding = 0; // skipped after a collected payload or a member's data
  private collected: Buffer[] = [];
  private collectKind = '';
  private pax: Map<string, string> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  /** Bytes after the end-of-archive block so far (see MAX_TRAILER_BYTES). */
  private trailerBytes = 0;
  offset = 0;

  constructor(
    private readonly onMember: (m: TarMember) => void,
    private readonly onData?: (chunk: Buffer) => void
  ) {}

  write(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.state === 'header') {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader();
          this.offset += BLOCK;
        }
      } else if (this.state === 'data') {
        const n = Math.min(this.remaining, chunk.length - off);
        this.onData?.(chunk.subarray(off, off + n));
        this.remaining -= n;
        off += n;
        this.offset += n;
        if (this.remaining === 0) this.afterPayload();
      } else if (this.state === 'skip') {
        const n = Math.min(this.remaining, chunk.length - off);
        this.remaining -= n;
        off += n;
        this.offset += n;
        if (this.remaining === 0) this.state = 'header';
      } else if (this.state === 'collect') {
        const n = Math.min(this.remaining, chunk.length - off);
        // A copy: the caller may reuse the chunk's memory once write() returns (a pax or
        // long-name payload can span writes).
        this.collected.push(Buffer.from(chunk.subarray(off, off + n)));
        this.remaining -= n;
        off += n;
        this.offset += n;
        if (this.remaining === 0) this.onPayload();
      } else {
        // GNU tar stops at the first zero block. Anything but zeros after it would be data
        // that tar ignores and a laxer reader might not: refuse rather than guess. Zeros too,
        // past what tar pads an archive with: no data bound counts them, and a frame of a few
        // MB decompresses to TBs of them (a lane, and the host's restore lock, held for hours).
        this.trailerBytes += chunk.length - off;
        if (this.trailerBytes > MAX_TRAILER_BYTES)
          throw new TarFormatError(`more than ${MAX_TRAILER_BYTES} bytes after the end-of-archive block (tar pads an archive to its record size, 10240 bytes unless told otherwise)`);
        for (let i = off; i < chunk.length; i++) if (chunk[i] !== 0) throw new TarFormatError(`non-zero data after the end-of-archive block at offset ${this.offset + i - off}`);
        this.offset += chunk.length - off;
        off = chunk.length;
      }
    }
  }

  /** True once the end-of-archive block went by: tar reads nothing after it. */
  get ended(): boolean {
    return this.state === 'trailer';
  }

  end(): void {
    if (this.state !== 'trailer') throw new TarFormatError(`archive ends early (truncated at offset ${this.offset + this.headerFill})`);
  }

  private get pending(): boolean {
    return this.pax !== undefined || this.longName !== undefined || this.longLink !== undefined;
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      if (this.pending) throw new TarFormatError('extended header without a member');
      this.state = 'trailer';
      return;
    }
    if (!checksumOk(h)) throw new TarFormatError(`header checksum mismatch at offset ${this.offset}`);
    const magic = h.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    if (!ustar && magic !== 'ustar ') throw new TarFormatError(`not a ustar/GNU header at offset ${this.offset} (magic '${escapedText(magic)}')`);
    const type = String.fromCharCode(h[156]);
    let size = parseNumeric(h, 124, 12, 'size');

    if (type === 'x' || type === 'L' || type === 'K') {
      // GNU tar applies only the last of two pax headers (or long names) in a row; refusing any
      // such pair leaves nothing to disagree about.
      if (this.pax !== undefined || (type === 'x' && this.pending)) throw new TarFormatError(`a '${type}' header follows another extended header at offset ${this.offset}`);
      if ((type === 'L' && this.longName !== undefined) || (type === 'K' && this.longLink !== undefined)) throw new TarFormatError(`two '${type}' long-name records in a row at offset ${this.offset}`);
      if (size > MAX_META) throw new TarFormatError(`${type} header of ${size} bytes`);
      this.collectKind = type;
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      this.collected = [];
      this.state = 'collect';
      if (size === 0) this.onPayload();
      return;
    }
    if (type === 'g') throw new TarFormatError('pax global header (runbox never writes one)');

    const pax = this.pax ?? new Map<string, string>();
    const paxSize = pax.get('size');
    if (paxSize !== undefined) {
      if (!/^(0|[1-9][0-9]*)$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw new TarFormatError(`bad pax size '${escapedText(paxSize)}'`);
      size = Number(paxSize);
    }

    const rawName = cstring(h, 0, 100);
    const prefix = ustar ? cstring(h, 345, 155) : '';
    const name = pax.get('path') ?? this.longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
    const linkname = pax.get('linkpath') ?? this.longLink ?? cstring(h, 157, 100);
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;

    const regular = type === '0' || type === '\0';
    // tar's idea of how much data follows must match ours; only regular files carry data here.
    if (!regular && size !== 0) throw new TarFormatError(`member '${escapedText(name)}' of type '${escapedText(type)}' claims ${size} bytes of data`);
    this.onMember({
      name,
      type,
      linkname,
      size,
      mode: parseNumeric(h, 100, 8, 'mode'),
      uid: parseNumeric(h, 108, 8, 'uid'),
      gid: parseNumeric(h, 116, 8, 'gid')
    });
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size > 0) this.state = 'data';
    else this.afterPayload();
  }

  private afterPayload(): void {
    this.remaining = this.padding;
    this.padding = 0;
    this.state = this.remaining > 0 ? 'skip' : 'header';
  }

  private onPayload(): void {
    const data = Buffer.concat(this.collected);
    this.collected = [];
    if (this.collectKind === 'x') {
      const pax = parsePax(data);
      for (const k of pax.keys()) {
        if (k.startsWith('GNU.sparse')) throw new TarFormatError('sparse member (runbox never writes one)');
        if (!PAX_KEYS.has(k)) throw new TarFormatError(`pax record '${escapedText(k, 60)}' is not one runbox's archives hold`);
      }
      this.pax = pax;
    } else {
      const end = data.indexOf(0);
      const s = decodeName(data.subarray(0, end === -1 ? data.length : end));
      if (this.collectKind === 'L') this.longName = s;
      else this.longLink = s;
    }
    this.afterPayload();
  }
}

// ---------------------------------------------------------------------------------------------

export interface MemberRules {
  /** Absolute store paths; every member must be one of them or lie inside one. */
  storePaths: readonly string[];
  /** Absolute paths of files no member may be (the live DB and its journals). */
  reserved?: (absPath: string) => boolean;
}

export interface ArchiveSummary {
  members: number;
  /** Sum of the regular files' sizes: what the manifest's dataBytes bounds. */
  dataBytes: number;
  /** Store paths (relative to `/`) that the archive holds. */
  roots: string[];
  /** Top-level items (relative, `gnu/store/<item>`). */
  tops: Set<string>;
  /** Setuid, setgid and sticky bits that the snapshot's modes had and the restore drops. */
  bitsDropped: number;
  /** Members whose mode had one of those bits (relative), the first few, for the report. */
  bitsDroppedIn: string[];
  /** Top-level items that are themselves symlinks (relative). */
  symlinkTops: Set<string>;
  /** Hard-link members accepted (each to an earlier file of the same archive). */
  links: number;
  /** Top-level entries (relative) named like a daemon lock file: checked, never extracted. */
  lockDropped: Set<string>;
}

/**
 * A top-level store entry named `<anything>.lock`. The daemons lock a store path P by opening
 * `P.lock` beside it as root (O_RDWR|O_CREAT, following symlinks) and write "d" into it when
 * done. Whatever a snapshot puts there is turned against root: a symlink has the daemon create
 * or write a file anywhere on the host, a dir makes every build of P fail, and a non-empty
 * regular file makes the daemon take it for a stale lock and retry forever whenever it locks P.
 * A real item can have that name too (a `Cargo.lock` or `flake.lock` added to the store), and
 * no check tells the two apart, so no such entry is ever restored: save leaves them out, restore
 * drops them (with a warning) rather than refusing the snapshot, because snapshots saved before
 * this rule hold such real items, and refusing those would make their keys misses for good (the
 * cache service keeps the entry and refuses a new save under the same key).
 */
export function isDaemonLockName(top: string): boolean {
  return top.endsWith('.lock');
}

const TYPE_NAMES: Record<string, string> = {
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  S: 'a sparse file',
  D: 'a GNU dump dir',
  M: 'a multi-volume continuation',
  V: 'a volume label'
};

/**
 * Longest path and path component Linux takes (PATH_MAX - 1, NAME_MAX): nothing longer can be
 * a store file, and a long-name record of up to MAX_META bytes would otherwise be kept (in the
 * checks' bookkeeping and the stream) for every member tar then fails to create.
 */
export const MAX_PATH_BYTES = 4095;
export const MAX_NAME_BYTES = 255;

/** The member path, checked: relative, normalised, no `.`/`..`/empty components, within Linux's lengths. */
export function checkMemberPath(raw: string, what: string): string {
  const p = raw.endsWith('/') ? raw.slice(0, -1) : raw;
  if (p === '') throw new UnsafeArchiveError(raw, `has an empty ${what}`);
  if (p.startsWith('/')) throw new UnsafeArchiveError(raw, `has an absolute ${what}`);
  if (/[\0\n]/.test(p)) throw new UnsafeArchiveError(raw, `has a NUL or newline in its ${what}`);
  const bytes = Buffer.byteLength(p);
  if (bytes > MAX_PATH_BYTES) throw new UnsafeArchiveError(raw, `has a ${what} of ${bytes} bytes, longer than the ${MAX_PATH_BYTES} Linux takes`);
  for (const c of p.split('/')) {
    if (c === '' || c === '.' || c === '..') throw new UnsafeArchiveError(raw, `has a '${c === '' ? '//' : c}' component in its ${what}`);
    if (Buffer.byteLength(c) > MAX_NAME_BYTES) throw new UnsafeArchiveError(raw, `has a component of ${Buffer.byteLength(c)} bytes in its ${what}, longer than the ${MAX_NAME_BYTES} Linux takes`);
  }
  return p;
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) out.push(p.slice(0, i));
  return out;
}

/**
 * Checks every member against the rules as the stream goes by; the first violation rejects
 * the whole archive (UnsafeArchiveError) and stops reading. check() returns the member as the
 * canonical writer takes it (undefined for a store path's own dir, which the restore makes
 * itself). Nothing here touches the disk.
 *
 * Order: a member's parent dir must be an earlier member of the same archive (or a store path),
 * as in every archive runbox writes (tree order), so tar never creates a dir on its own with
 * default metadata and the walk of what landed can expect exactly the members emitted.
 */
export class MemberValidator {
  private readonly roots: string[];
  private readonly seenRoots = new Set<string>();
  private readonly symlinks = new Set<string>();
  private readonly dirs = new Set<string>();
  /** Regular-file members (not links) seen so far: the only targets a hard link may name, with
   * the executable bit the link's canonical header repeats. */
  private readonly files = new Map<string, boolean>();
  private readonly seen = new Set<string>();
  readonly summary: ArchiveSummary = { members: 0, dataBytes: 0, roots: [], tops: new Set(), bitsDropped: 0, bitsDroppedIn: [], symlinkTops: new Set(), links: 0, lockDropped: new Set() };

  constructor(private readonly rules: MemberRules) {
    this.roots = rules.storePaths.map((p) => p.replace(/^\/+/, '').replace(/\/+$/, ''));
    if (this.roots.some((r) => r === '')) throw new Error('a store path of / cannot be validated');
  }

  private rootOf(p: string): string | undefined {
    return this.roots.find((r) => p === r || p.startsWith(`${r}/`));
  }

  check(m: TarMember): CheckedMember | undefined {
    const p = checkMemberPath(m.name, 'path');
    const root = this.rootOf(p);
    if (root === undefined) throw new UnsafeArchiveError(m.name, `path '${escapedText(p)}' lies outside the store paths (${this.rules.storePaths.join(', ')})`);
    if (this.rules.reserved?.(`/${p}`)) throw new UnsafeArchiveError(m.name, `path '${escapedText(p)}' is the daemon's live database, which is never extracted`);
    // tar resolves every parent of a name on disk: one that an earlier member made a symlink
    // would send this member wherever that symlink points.
    for (const a of ancestors(p)) if (this.symlinks.has(a)) throw new UnsafeArchiveError(m.name, `path '${escapedText(p)}' would be written through the symlink member '${escapedText(a)}'`);
    const kind = m.type === '\0' ? '0' : m.type;
    if (!['0', '1', '2', '5'].includes(kind)) throw new UnsafeArchiveError(m.name, `is ${TYPE_NAMES[kind] ?? `of unknown type '${escapedText(kind)}'`}`);
    // GNU tar makes a dir of any member whose name ends in `/` and reads its data as headers.
    if (m.name.endsWith('/') && kind !== '5') throw new UnsafeArchiveError(m.name, 'has a name ending in / but is not a directory');
    if (this.seen.has(p)) throw new UnsafeArchiveError(m.name, 'appears twice in the archive');
    // Checked before anything is counted: the link's target must already be a regular file of
    // this archive's stream, so the link can only ever name a file runbox itself wrote (and the
    // restore checks that it did, as the target's item may have been skipped).
    const linkTarget = kind === '1' ? this.checkLinkTarget(m, p) : undefined;
    this.seen.add(p);
    if (p === root && kind !== '5') throw new UnsafeArchiveError(m.name, 'is the store path itself but not a directory');
    this.seenRoots.add(root);
    this.summary.members++;
    this.summary.dataBytes += m.size;
    if (kind === '5') this.dirs.add(p);
    if (kind === '0') this.files.set(p, (m.mode & 0o111) !== 0);
    // The store dir's own member is never extracted (restore makes the dir itself).
    if (p === root) return undefined;
    // A link's header mode is never applied (tar links, the inode keeps its target's mode).
    if ((m.mode & 0o7000) !== 0 && kind !== '1') {
      for (const bit of [0o4000, 0o2000, 0o1000]) if (m.mode & bit) this.summary.bitsDropped++;
      if (this.summary.bitsDroppedIn.length < 5) this.summary.bitsDroppedIn.push(p);
    }

    const rest = p.slice(root.length + 1).split('/');
    const top = `${root}/${rest[0]}`;
    // Dot-entries (`.links`, a restore's private dir) are the daemon's or runbox's own; snapshots hold none.
    if (rest[0].startsWith('.')) throw new UnsafeArchiveError(m.name, `lies in '${escapedText(top)}', a dot-entry of the store dir, which snapshots never hold`);
    const parent = p.slice(0, p.lastIndexOf('/'));
    if (parent !== root && !this.dirs.has(parent)) throw new UnsafeArchiveError(m.name, `comes before its parent dir '${escapedText(parent)}' (or that is no dir of the archive)`);
    let target: string | undefined;
    if (kind === '2') {
      this.symlinks.add(p);
      if (m.linkname === '' || /[\0\n]/.test(m.linkname)) throw new UnsafeArchiveError(m.name, 'is a symlink with an empty target or one holding a NUL or newline');
      if (Buffer.byteLength(m.linkname) > MAX_PATH_BYTES)
        throw new UnsafeArchiveError(m.name, `is a symlink whose target is ${Buffer.byteLength(m.linkname)} bytes, longer than the ${MAX_PATH_BYTES} Linux takes`);
      target = m.linkname;
    }
    // Checked like every member above (so nothing under it, or linking through it, escapes the
    // rules), then left out of the stream with everything in it: see isDaemonLockName.
    if (isDaemonLockName(rest[0])) {
      this.summary.lockDropped.add(top);
      return undefined;
    }
    this.summary.tops.add(top);
    if (kind === '2' && rest.length === 1) this.summary.symlinkTops.add(top);
    if (linkTarget !== undefined) {
      this.summary.links++;
      return { path: p, kind: 'link', size: 0, executable: this.files.get(linkTarget) === true, target: linkTarget };
    }
    return {
      path: p,
      kind: kind === '0' ? 'file' : kind === '5' ? 'dir' : 'symlink',
      size: m.size,
      executable: kind === '0' && (m.mode & 0o111) !== 0,
      ...(target !== undefined ? { target } : {})
    };
  }

  /**
   * A hard link's target, checked: exactly the path of an earlier regular-file member of this
   * archive. Not a dir, symlink or device (only regular files are in `files`), not a path later
   * in the stream (tar would link to whatever is on disk by then), not another link (tar writes
   * every link to the first name, so a chain is never ours), not a path of another archive or
   * of the disk (each archive's set is its own), never through a symlink member.
   */
  private checkLinkTarget(m: TarMember, p: string): string {
    const raw = m.linkname;
    let t: string;
    try {
      t = checkMemberPath(raw, 'hard link target');
    } catch (e) {
      if (!(e instanceof UnsafeArchiveError)) throw e;
      // Named after the link member (the target is only a string in its header).
      throw new UnsafeArchiveError(m.name, `is a hard link whose target '${escapedText(raw)}' ${e.message.replace(/^member '[^]*?' /, '')}`);
    }
    // tar links to the name as written: `a//b` or `a/` would be another string than the one checked.
    if (t !== raw) throw new UnsafeArchiveError(m.name, `is a hard link to '${escapedText(raw)}', which is not a normalised path`);
    if (t === p) throw new UnsafeArchiveError(m.name, 'is a hard link to itself');
    for (const a of ancestors(t)) if (this.symlinks.has(a)) throw new UnsafeArchiveError(m.name, `is a hard link to '${escapedText(t)}', through the symlink member '${escapedText(a)}'`);
    if (!this.files.has(t)) {
      const what = this.symlinks.has(t)
        ? 'a symlink member'
        : this.dirs.has(t)
          ? 'a dir member'
          : this.seen.has(t)
            ? 'a member that is not a regular file written in full (a hard link itself)'
            : this.rootOf(t) === undefined
              ? 'a path outside the store paths'
              : 'no earlier regular file of this archive';
      throw new UnsafeArchiveError(m.name, `is a hard link to '${escapedText(t)}', ${what}: only a link to a file written earlier in the same archive is accepted`);
    }
    return t;
  }

  finish(): ArchiveSummary {
    this.summary.roots = this.roots.filter((r) => this.seenRoots.has(r));
    if (this.summary.members === 0) throw new UnsafeArchiveError('', 'archive has no members');
    return this.summary;
  }
}

/** Reads a whole uncompressed tar stream, validating every member; rejects on the first bad one. */
export async function validateMembers(stream: Readable, rules: MemberRules): Promise<ArchiveSummary> {
  const validator = new MemberValidator(rules);
  const parser = new TarParser((m) => void validator.check(m));
  for await (const chunk of stream) parser.write(chunk as Buffer);
  parser.end();
  return validator.finish();
}
