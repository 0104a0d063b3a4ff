/** Per-test isolation on the shared servers: a unique KEZEK_PREFIX gives unique streams, subjects and Redis keys. */
import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const natsUrl = (): string => inject('natsUrl');
export const redisUrl = (): string => inject('redisUrl');

/** A unique namespace like `t3f9a1c2`, valid as KEZEK_PREFIX. */
export const uniquePrefix = (): string => `t${randomBytes(5).toString('hex')}`;

export const tempDir = (label = 'kezek'): string => mkdtempSync(join(tmpdir(), `${label}-`));
