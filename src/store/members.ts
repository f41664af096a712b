// A snapshot is untrusted input that root extracts into `/`: anyone who can write the repo's
// cache (any branch's workflow) can write an entry under our key. Before tar sees a byte, every
// member is parsed here, from the decompressed stream, and one bad member refuses the whole
// archive. The parser reads what GNU tar reads: ustar and GNU headers, pax `x` records (path,
// linkpath, size) and GNU `L`/`K` long names; whatever it does not understand is refused
// rather than skipped, so it can never disagree with tar about which names an archive holds.
import type { Readable } from 'node:stream';

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
    super(`member '${member}' ${reason}`);
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
  const s = buf.toString('latin1', start, start + len).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad octal ${field} '${s}'`);
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
    if (!/^[1-9][0-9]*$/.test(lenStr)) throw new TarFormatError(`bad pax record length '${lenStr}'`);
    const len = Number(lenStr);
    if (off + len > data.length || data[off + len - 1] !== 0x0a) throw new TarFormatError('pax record overruns its header');
    const rec = decodeName(data.subarray(sp + 1, off + len - 1));
    const eq = rec.indexOf('=');
    if (eq <= 0) throw new TarFormatError('pax record without key');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

type State = 'header' | 'skip' | 'collect' | 'trailer';

/** Push parser: write() chunks of the uncompressed tar stream, then end(). Throws TarFormatError. */
export class TarParser {
  private state: State = 'header';
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0; // bytes to skip (state 'skip') or collect (state 'collect')
  private padding = 0; // skipped after a collected payload
  private collected: Buffer[] = [];
  private collectKind = '';
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  offset = 0;

  constructor(private readonly onMember: (m: TarMember) => void) {}

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
      } else if (this.state === 'skip') {
        const n = Math.min(this.remaining, chunk.length - off);
        this.remaining -= n;
        off += n;
        this.offset += n;
        if (this.remaining === 0) this.state = 'header';
      } else if (this.state === 'collect') {
        const n = Math.min(this.remaining, chunk.length - off);
        this.collected.push(chunk.subarray(off, off + n));
        this.remaining -= n;
        off += n;
        this.offset += n;
        if (this.remaining === 0) this.onPayload();
      } else {
        // GNU tar stops at the first zero block. Anything but zeros after it would be data
        // that tar ignores and a laxer reader might not: refuse rather than guess.
        for (let i = off; i < chunk.length; i++)
          if (chunk[i] !== 0) throw new TarFormatError(`non-zero data after the end-of-archive block at offset ${this.offset + i - off}`);
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

  private onHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      if (this.pax.size > 0 || this.longName !== undefined || this.longLink !== undefined)
        throw new TarFormatError('extended header without a member');
      this.state = 'trailer';
      return;
    }
    if (!checksumOk(h)) throw new TarFormatError(`header checksum mismatch at offset ${this.offset}`);
    const magic = h.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    if (!ustar && magic !== 'ustar ') throw new TarFormatError(`not a ustar/GNU header at offset ${this.offset} (magic '${magic}')`);
    const type = String.fromCharCode(h[156]);
    let size = parseNumeric(h, 124, 12, 'size');

    if (type === 'x' || type === 'L' || type === 'K') {
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

    const paxSize = this.pax.get('size');
    if (paxSize !== undefined) {
      if (!/^[0-9]+$/.test(paxSize)) throw new TarFormatError(`bad pax size '${paxSize}'`);
      size = Number(paxSize);
    }
    for (const k of this.pax.keys()) if (k.startsWith('GNU.sparse')) throw new TarFormatError('sparse member (runbox never writes one)');

    const rawName = cstring(h, 0, 100);
    const prefix = ustar ? cstring(h, 345, 155) : '';
    const name = this.pax.get('path') ?? this.longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
    const linkname = this.pax.get('linkpath') ?? this.longLink ?? cstring(h, 157, 100);
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;

    const regular = type === '0' || type === '\0' || type === '7';
    // tar's idea of how much data follows must match ours; only regular files carry data here.
    if (!regular && size !== 0) throw new TarFormatError(`member '${name}' of type '${type}' claims ${size} bytes of data`);
    this.onMember({
      name,
      type,
      linkname,
      size,
      mode: parseNumeric(h, 100, 8, 'mode'),
      uid: parseNumeric(h, 108, 8, 'uid'),
      gid: parseNumeric(h, 116, 8, 'gid')
    });
    this.remaining = size + ((BLOCK - (size % BLOCK)) % BLOCK);
    this.state = this.remaining > 0 ? 'skip' : 'header';
  }

  private onPayload(): void {
    const data = Buffer.concat(this.collected);
    this.collected = [];
    if (this.collectKind === 'x') {
      for (const [k, v] of parsePax(data)) this.pax.set(k, v);
    } else {
      const end = data.indexOf(0);
      const s = decodeName(data.subarray(0, end === -1 ? data.length : end));
      if (this.collectKind === 'L') this.longName = s;
      else this.longLink = s;
    }
    this.remaining = this.padding;
    this.state = this.remaining > 0 ? 'skip' : 'header';
  }
}

// ---------------------------------------------------------------------------------------------

export interface MemberRules {
  /** Absolute store paths; every member must be one of them or lie inside one. */
  storePaths: readonly string[];
  /** Absolute paths of files no member may be (the live DB and its journals). */
  reserved?: (absPath: string) => boolean;
  /** Set when this archive is extracted at the same time as others of its snapshot, into the
   * same dir: the cross-archive rules, checked member by member (see shard-rules.ts). */
  fence?: MemberFence;
}

/** One archive's view of the rules that keep the archives of one snapshot apart. */
export interface MemberFence {
  /** A member inside `top` (`depth` 1: the top itself). */
  member(top: string, depth: number, kind: string, raw: string): void;
  /** A hard link to `target`, which lies inside `top`. */
  link(target: string, top: string, raw: string): void;
}

export interface ArchiveSummary {
  members: number;
  dataBytes: number;
  /** Store paths (relative to `/`) that the archive holds. */
  roots: string[];
  /** Top-level items (relative, `gnu/store/<item>`): what additive extraction adds or skips. */
  tops: Set<string>;
  /** Distinct hard-link targets (relative): checked against the disk before extraction. */
  linkTargets: Set<string>;
  /** Parent dirs (relative) of members nested two or more levels inside a dot-named top-level
   * dir (like `.links`), whose existing copy on disk is extracted into, not skipped. */
  dotParents: Set<string>;
  /** Regular files with a setuid or setgid bit (relative). */
  setuid: string[];
  /** Top-level items that are themselves symlinks (relative); a sharded snapshot checks them across archives. */
  symlinkTops: Set<string>;
  /** Regular files inside dot-named top-level dirs (relative) and their sizes: an existing copy
   * on disk is only kept when its size matches (an interrupted extract leaves a truncated one). */
  dotFiles: Map<string, number>;
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

/** The member path, checked: relative, normalised, no `.`/`..`/empty components. */
export function checkMemberPath(raw: string, what: string): string {
  const p = raw.endsWith('/') ? raw.slice(0, -1) : raw;
  if (p === '') throw new UnsafeArchiveError(raw, `has an empty ${what}`);
  if (p.startsWith('/')) throw new UnsafeArchiveError(raw, `has an absolute ${what}`);
  if (/[\0\n]/.test(p)) throw new UnsafeArchiveError(raw, `has a NUL or newline in its ${what}`);
  for (const c of p.split('/'))
    if (c === '' || c === '.' || c === '..') throw new UnsafeArchiveError(raw, `has a '${c === '' ? '//' : c}' component in its ${what}`);
  return p;
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) out.push(p.slice(0, i));
  return out;
}

/**
 * Checks every member against the rules as the stream goes by; the first violation rejects
 * the whole archive (UnsafeArchiveError) and stops reading. Resolves with what extraction
 * needs to know. Nothing here touches the disk.
 */
export class MemberValidator {
  private readonly roots: string[];
  private readonly seenRoots = new Set<string>();
  private readonly symlinks = new Set<string>();
  readonly summary: ArchiveSummary = { members: 0, dataBytes: 0, roots: [], tops: new Set(), linkTargets: new Set(), dotParents: new Set(), setuid: [], symlinkTops: new Set(), dotFiles: new Map() };

  constructor(private readonly rules: MemberRules) {
    this.roots = rules.storePaths.map((p) => p.replace(/^\/+/, '').replace(/\/+$/, ''));
    if (this.roots.some((r) => r === '')) throw new Error('a store path of / cannot be validated');
  }

  private rootOf(p: string): string | undefined {
    return this.roots.find((r) => p === r || p.startsWith(`${r}/`));
  }

  private checkPlace(raw: string, p: string, what: string): string {
    const root = this.rootOf(p);
    if (root === undefined) throw new UnsafeArchiveError(raw, `${what} '${p}' lies outside the store paths (${this.rules.storePaths.join(', ')})`);
    if (this.rules.reserved?.(`/${p}`)) throw new UnsafeArchiveError(raw, `${what} '${p}' is the daemon's live database, which is merged, never extracted`);
    // tar resolves every parent of a name on disk: one that an earlier member made a symlink
    // would send this member (or the link it makes) wherever that symlink points.
    for (const a of ancestors(p)) if (this.symlinks.has(a)) throw new UnsafeArchiveError(raw, `${what} '${p}' would be written through the symlink member '${a}'`);
    return root;
  }

  check(m: TarMember): void {
    const p = checkMemberPath(m.name, 'path');
    const root = this.checkPlace(m.name, p, 'path');
    const kind = m.type === '\0' ? '0' : m.type;
    if (!['0', '1', '2', '5'].includes(kind)) throw new UnsafeArchiveError(m.name, `is ${TYPE_NAMES[kind] ?? `of unknown type '${kind}'`}`);
    if (p === root && kind !== '5') throw new UnsafeArchiveError(m.name, 'is the store path itself but not a directory');
    // Nix and Guix never keep setuid/setgid files in a store (they canonicalise modes), but
    // modes must round-trip exactly (synthetic stores built from /usr/bin have some), so such
    // files are restored as recorded and named in a warning rather than refused.
    if (kind === '0' && (m.mode & 0o6000) !== 0) this.summary.setuid.push(p);
    if (kind === '1') {
      const target = checkMemberPath(m.linkname, 'hard-link target');
      const targetRoot = this.checkPlace(m.name, target, 'hard-link target');
      this.summary.linkTargets.add(target);
      if (target !== targetRoot) this.rules.fence?.link(target, `${targetRoot}/${target.slice(targetRoot.length + 1).split('/')[0]}`, m.name);
    }
    if (kind === '2') this.symlinks.add(p);

    this.seenRoots.add(root);
    if (p !== root) {
      const rest = p.slice(root.length + 1).split('/');
      const top = `${root}/${rest[0]}`;
      this.rules.fence?.member(top, rest.length, kind, m.name);
      this.summary.tops.add(top);
      if (rest.length === 1 && kind === '2') this.summary.symlinkTops.add(top);
      if (rest[0].startsWith('.') && rest.length > 2) this.summary.dotParents.add(p.slice(0, p.lastIndexOf('/')));
      if (rest[0].startsWith('.') && rest.length > 1 && kind === '0') this.summary.dotFiles.set(p, m.size);
    }
    this.summary.members++;
    this.summary.dataBytes += m.size;
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
  const parser = new TarParser((m) => validator.check(m));
  for await (const chunk of stream) parser.write(chunk as Buffer);
  parser.end();
  return validator.finish();
}
