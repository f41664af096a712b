#!/usr/bin/env node
// Prints a new ed25519 signing key for runbox's `signing-key` input (PEM, PKCS#8: store it as a
// secret) and the public `ed25519:<base64>` line to put in `trusted-keys`.
//   node tools/keygen.mjs
import { generateKeyPairSync } from 'node:crypto';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
process.stdout.write(privateKey.export({ format: 'pem', type: 'pkcs8' }));
process.stdout.write(`ed25519:${raw.toString('base64')}\n`);
