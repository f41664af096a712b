// ed25519 signatures over an entry's index. The index holds every file's sha256, so a good
// signature over it covers every byte the reader writes. Keys are the user's: `signing-key` is a
// PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`, or tools/keygen.mjs), and
// `trusted-keys` lines are `ed25519:<base64 of the raw 32-byte public key>`.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { EntryTrustError, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SIGNED_PREFIX } from './format.js';

export const KEY_PREFIX = 'ed25519:';

export interface TrustedKey {
  /** The `ed25519:...` line: what the user pastes into trusted-keys, and what messages name. */
  id: string;
  raw: Buffer;
  key: KeyObject;
}

/** The signing key from PEM, or a reason it is unusable (never echoing the key material). */
export function parsePrivateKey(pem: string): KeyObject | string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem.replace(/\r\n/g, '\n'), format: 'pem' });
  } catch (e) {
    return `it is not a PEM private key (${e instanceof Error ? e.message.replace(/\s+/g, ' ') : 'unreadable'})`;
  }
  if (key.asymmetricKeyType !== 'ed25519') return `it is a ${String(key.asymmetricKeyType)} key, not ed25519`;
  return key;
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('ed25519 public key without x');
  return Buffer.from(jwk.x, 'base64url');
}

export function keyIdOf(raw: Buffer): string {
  return `${KEY_PREFIX}${raw.toString('base64')}`;
}

/** The trusted-keys line for a private (or public) key. */
export function publicKeyLine(key: KeyObject): string {
  return keyIdOf(rawPublic(key));
}

function publicFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** One trusted-keys line, or a reason it is not one. */
export function parseTrustedKey(line: string): TrustedKey | string {
  if (!line.startsWith(KEY_PREFIX)) return `'${line.slice(0, 20)}...' does not start with ${KEY_PREFIX}`;
  const b64 = line.slice(KEY_PREFIX.length);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(b64)) return `'${line.slice(0, 60)}' is not ${KEY_PREFIX} followed by the base64 of 32 bytes`;
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== PUBLIC_KEY_BYTES) return `'${line}' does not decode to ${PUBLIC_KEY_BYTES} bytes`;
  try {
    return { id: keyIdOf(raw), raw, key: publicFromRaw(raw) };
  } catch (e) {
    return `'${line}' is not an ed25519 public key (${e instanceof Error ? e.message : 'unreadable'})`;
  }
}

/** The 96-byte signature block for an index. */
export function signIndex(privateKey: KeyObject, index: Buffer): Buffer {
  const sig = sign(null, Buffer.concat([SIGNED_PREFIX, index]), privateKey);
  const out = Buffer.concat([rawPublic(privateKey), sig]);
  if (out.length !== SIGNATURE_BYTES) throw new Error(`ed25519 signature block is ${out.length} bytes`);
  return out;
}

/**
 * Checks the signature block against trusted keys, before anything parses the index. Returns the
 * signer's key id; throws EntryTrustError naming the key (its id is base64: safe to print).
 */
export function checkSignature(signature: Buffer, index: Buffer, trusted: readonly TrustedKey[]): string {
  if (signature.length === 0) throw new EntryTrustError('the entry is not signed, and trusted-keys is set');
  if (signature.length !== SIGNATURE_BYTES) throw new EntryTrustError(`the signature block is ${signature.length} bytes, not ${SIGNATURE_BYTES}`);
  const raw = signature.subarray(0, PUBLIC_KEY_BYTES);
  const id = keyIdOf(raw);
  const key = trusted.find((k) => k.raw.equals(raw));
  if (!key) throw new EntryTrustError(`the entry is signed by ${id}, which is not in trusted-keys`);
  if (!verify(null, Buffer.concat([SIGNED_PREFIX, index]), key.key, signature.subarray(PUBLIC_KEY_BYTES)))
    throw new EntryTrustError(`the signature by ${id} does not match the entry's index (tampered, or not made by that key)`);
  return id;
}
