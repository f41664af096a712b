// One syntax wherever an input asks for a size (`disk-limit`'s minimum free, `gc`'s cap): binary
// units, as df -h and du -h print them, so a value copied from their output means the same.
import { InputError } from './errors.js';

const UNIT_BYTES: Record<string, number> = { M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** The size syntax alone: `500M`, `20G`, `1T` (also `20GiB`, `20GB`); undefined when `raw` is not one. */
export function sizeBytes(raw: string): number | undefined {
  const size = /^(\d+)\s*([MGT])(?:i?B)?$/i.exec(raw);
  return size ? Number(size[1]) * UNIT_BYTES[size[2].toUpperCase()] : undefined;
}

/** A positive size in bytes, or an InputError naming `input` with `fix`. */
export function parseSize(input: string, raw: string, fix: string): number {
  const bytes = sizeBytes(raw);
  if (bytes === undefined) throw new InputError(input, `'${raw}' is not a size`, fix);
  if (bytes === 0) throw new InputError(input, `'${raw}' is zero`, fix);
  if (!Number.isSafeInteger(bytes)) throw new InputError(input, `'${raw}' is too large`, fix);
  return bytes;
}
