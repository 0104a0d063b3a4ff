/**
 * Vehicle plates and references are personal data. They are replaced by a keyed hash (HMAC-SHA256,
 * truncated to 128 bits, base64url) before anything is stored or published. Pseudonymising an already
 * pseudonymised value returns it unchanged, so every boundary can apply it safely.
 *
 * Speed: every vehicle event of the ingest gateway is pseudonymised, and node:crypto's createHmac costs ~6 us per
 * call (a key import, an OpenSSL context, four SHA-256 blocks for one short ref); under ingest load it was the
 * largest single item of the API's CPU profile (~12-19 % of its busy time). HMAC's first block of each pass only
 * depends on the key (H(K^ipad || m), H(K^opad || inner)), so the SHA-256 states after those blocks are computed
 * once per key and each ref costs two block compressions in plain JS. Refs longer than one block (over 55 UTF-8
 * bytes; plates are ~10) take node:crypto's createHmac. The result is HMAC-SHA256 bit for bit:
 * test/unit/privacy.test.ts compares both paths with createHmac on random refs.
 */
import { createHash, createHmac } from 'node:crypto';

const PSEUDONYM_RE = /^ps1_[A-Za-z0-9_-]{22}$/;

export const isPseudonym = (ref: string): boolean => PSEUDONYM_RE.test(ref);

export function pseudonymise(ref: string, key: string): string {
  if (isPseudonym(ref)) return ref;
  return `ps1_${macOf(ref, key)}`;
}

/** Returns the event with its vehicleRef (if any) pseudonymised. */
export function pseudonymiseEvent<T extends { vehicleRef?: string }>(ev: T, key: string): T {
  if (ev.vehicleRef === undefined) return ev;
  return { ...ev, vehicleRef: pseudonymise(ev.vehicleRef, key) };
}

/** The first 16 bytes of HMAC-SHA256(key, ref), base64url: node:crypto's reference implementation. */
export function macViaNodeCrypto(ref: string, key: string): string {
  return createHmac('sha256', key).update(ref, 'utf8').digest().subarray(0, 16).toString('base64url');
}

// ----------------------------------------------------------------------------------------------------------------
// HMAC-SHA256 for one-block messages (FIPS 180-4 / RFC 2104), with the key's pad blocks precompressed.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const H0 = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Int32Array(64);

/** One SHA-256 compression of the 64-byte block `block` (big-endian words) into `state` (in place). */
function compress(state: Int32Array, block: Uint8Array): void {
  for (let i = 0; i < 16; i++) {
    const j = i * 4;
    W[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!, e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

interface KeyStates {
  /** SHA-256 state after the block K ^ ipad, and after K ^ opad. */
  inner: Int32Array;
  outer: Int32Array;
}

const keyStates = new Map<string, KeyStates>();
const MAX_KEYS = 16; // a process uses one key (tests a few); the cache must not grow with careless callers

function statesFor(key: string): KeyStates {
  let s = keyStates.get(key);
  if (s) return s;
  let k: Uint8Array = Buffer.from(key, 'utf8');
  if (k.length > 64) k = createHash('sha256').update(k).digest();
  const ipad = new Uint8Array(64).fill(0x36);
  const opad = new Uint8Array(64).fill(0x5c);
  for (let i = 0; i < k.length; i++) {
    ipad[i]! ^= k[i]!;
    opad[i]! ^= k[i]!;
  }
  s = { inner: H0.slice(), outer: H0.slice() };
  compress(s.inner, ipad);
  compress(s.outer, opad);
  if (keyStates.size >= MAX_KEYS) keyStates.clear();
  keyStates.set(key, s);
  return s;
}

const block = new Uint8Array(64);
const state = new Int32Array(8);
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Writes the message's final block: bytes, 0x80, zeros, the bit length of (one key block + message). */
function finalBlock(len: number): void {
  block[len] = 0x80;
  block.fill(0, len + 1, 56);
  const bits = (64 + len) * 8; // < 2^32 for one-block messages
  block[56] = 0;
  block[57] = 0;
  block[58] = 0;
  block[59] = 0;
  block[60] = (bits >>> 24) & 0xff;
  block[61] = (bits >>> 16) & 0xff;
  block[62] = (bits >>> 8) & 0xff;
  block[63] = bits & 0xff;
}

function macOf(ref: string, key: string): string {
  // the ref's UTF-8 bytes into the block: ASCII directly, anything else through Buffer (rare)
  let len = ref.length;
  if (len > 55) return macViaNodeCrypto(ref, key);
  let ascii = true;
  for (let i = 0; i < len; i++) {
    const c = ref.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    block[i] = c;
  }
  if (!ascii) {
    const bytes = Buffer.from(ref, 'utf8');
    if (bytes.length > 55) return macViaNodeCrypto(ref, key);
    block.set(bytes);
    len = bytes.length;
  }
  const ks = statesFor(key);
  finalBlock(len);
  state.set(ks.inner);
  compress(state, block);
  // outer pass: H(K ^ opad || inner digest)
  for (let i = 0; i < 8; i++) {
    const w = state[i]!;
    const j = i * 4;
    block[j] = w >>> 24;
    block[j + 1] = (w >>> 16) & 0xff;
    block[j + 2] = (w >>> 8) & 0xff;
    block[j + 3] = w & 0xff;
  }
  finalBlock(32);
  state.set(ks.outer);
  compress(state, block);
  // first 16 bytes of the digest, base64url without padding (22 characters)
  let out = '';
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < 4; i++) {
    const w = state[i]!;
    for (let sh = 24; sh >= 0; sh -= 8) {
      acc = (acc << 8) | ((w >>> sh) & 0xff);
      nbits += 8;
      while (nbits >= 6) {
        nbits -= 6;
        out += B64URL[(acc >>> nbits) & 63];
      }
      acc &= (1 << nbits) - 1;
    }
  }
  if (nbits > 0) out += B64URL[(acc << (6 - nbits)) & 63];
  return out;
}
