/**
 * Vehicle plates and references are personal data. They are replaced by a keyed hash (HMAC-SHA256,
 * truncated to 128 bits, base64url) before anything is stored or published. Pseudonymising an already
 * pseudonymised value returns it unchanged, so every boundary can apply it safely.
 */
import { createHmac } from 'node:crypto';

const PSEUDONYM_RE = /^ps1_[A-Za-z0-9_-]{22}$/;

export const isPseudonym = (ref: string): boolean => PSEUDONYM_RE.test(ref);

export function pseudonymise(ref: string, key: string): string {
  if (isPseudonym(ref)) return ref;
  const mac = createHmac('sha256', key).update(ref, 'utf8').digest().subarray(0, 16).toString('base64url');
  return `ps1_${mac}`;
}

/** Returns the event with its vehicleRef (if any) pseudonymised. */
export function pseudonymiseEvent<T extends { vehicleRef?: string }>(ev: T, key: string): T {
  if (ev.vehicleRef === undefined) return ev;
  return { ...ev, vehicleRef: pseudonymise(ev.vehicleRef, key) };
}
