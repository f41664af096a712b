// A minimal ustar writer for hand-made (malicious) archives: GNU tar refuses or rewrites many of
// the members an attacker would write (`..`, absolute names), so the bytes are built here,
// exactly as given (plain ustar headers, names up to 100 bytes). Data is written for any entry
// that has some (pax `x` records, GNU `L` names, a "directory" carrying data, ...).
export interface TarEntry {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' dir, '6' FIFO,
   * 'x' pax extended header, 'L'/'K' GNU long name/link, 'S' GNU sparse file. */
  type: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x' | 'L' | 'K' | 'S';
  linkname?: string | undefined;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  data?: string | Buffer;
  devmajor?: number;
  devminor?: number;
}

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number, v: number): void {
  buf.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

function header(e: Omit<TarEntry, 'data'> & { size: number }): Buffer {
  const h = Buffer.alloc(BLOCK);
  const name = Buffer.from(e.name, 'utf8');
  const link = Buffer.from(e.linkname ?? '', 'utf8');
  if (name.length > 100 || link.length > 100) throw new Error(`name too long for a plain header: ${e.name}`);
  name.copy(h, 0);
  octal(h, 100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, e.size);
  octal(h, 136, 12, e.mtime ?? 1);
  h.write('        ', 148, 8, 'latin1');
  h.write(e.type, 156, 1, 'latin1');
  link.copy(h, 157);
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

function padded(data: Buffer): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [data, Buffer.alloc(pad)];
}

export function makeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    parts.push(header({ ...e, size: data.length }));
    if (data.length > 0) parts.push(...padded(data));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** pax records `<len> <key>=<value>\n` for an 'x' entry's data. */
export function paxRecords(records: Record<string, string>): Buffer {
  return Buffer.concat(
    Object.entries(records).map(([k, v]) => {
      const body = ` ${k}=${v}\n`;
      let len = Buffer.byteLength(body) + 1;
      while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
      return Buffer.from(`${len}${body}`);
    })
  );
}
