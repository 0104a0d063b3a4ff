/**
 * The pseudonymisation key for a local `npm start` when PSEUDONYM_KEY is not configured: generated once and kept
 * at DATA_DIR/pseudonym.key (mode 0600), so pseudonyms stay stable across restarts (a new key would split every
 * vehicle's history in two). The value is never logged.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KEY_FILE = 'pseudonym.key';
const MIN_KEY_LENGTH = 16;

export interface LocalKey {
  key: string;
  path: string;
  /** True when this call created the file. */
  generated: boolean;
}

export function ensurePseudonymKey(dataDir: string): LocalKey {
  const path = join(dataDir, KEY_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    // 'wx' fails if the file exists, so two concurrent starts cannot overwrite each other's key
    const key = randomBytes(32).toString('base64url');
    writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return { key, path, generated: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = readFileSync(path, 'utf8').trim();
  if (key.length < MIN_KEY_LENGTH) {
    throw new Error(`${path} holds a key shorter than ${MIN_KEY_LENGTH} characters; delete it to generate a new one`);
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return { key, path, generated: false };
}
