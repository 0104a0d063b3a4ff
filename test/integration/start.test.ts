/**
 * `npm start` end to end with the real services: private nats-server and redis-server in a temporary DATA_DIR
 * (LOCAL_SERVERS=spawn, because on a dev machine 4222/6379 may be taken by system servers), estimator, API and
 * simulator as children. A producer posts an event through the API; Ctrl-C then stops everything, within a bound,
 * with every port freed and every process gone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, isPortOpen } from '../../shared/local-servers.ts';
import { tempDir } from '../helpers/env.ts';
import { isAlive, runStart } from '../helpers/start-process.ts';

const ROOT = join(import.meta.dirname, '../..');
const PRODUCER_TOKEN = 'producer-token-for-start-test';
const dataDir = tempDir('kezek-npm-start');

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('npm start', () => {
  it('brings up the whole system, accepts an event, and stops cleanly on Ctrl-C', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const sp = runStart({
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: String(port),
        DATA_DIR: dataDir,
        LOCAL_SERVERS: 'spawn',
        API_TOKENS: `producer:${PRODUCER_TOKEN}`,
        LOG_LEVEL: 'info',
        SIMULATOR_SPEED: '60',
      },
    });
    try {
      await sp.waitFor((l) => l.msg === 'kezek is running', 90_000);
    } catch (err) {
      sp.proc.kill('SIGINT');
      await sp.exited;
      throw err;
    }
    const base = `http://127.0.0.1:${port}`;
    expect(sp.output()).toContain(`Dashboard   ${base}/`);
    const serverPort = (kind: string) => Number(sp.lines.find((l) => l.msg === `local ${kind} server started`)?.port);
    const natsPort = serverPort('nats');
    const redisPort = serverPort('redis');
    const pids: Record<string, number> = {};
    for (const l of sp.lines) if (l.service === 'start' && typeof l.child === 'string' && typeof l.pid === 'number') pids[l.child] = l.pid;
    expect(Object.keys(pids).sort()).toEqual(['api', 'estimator', 'simulator']);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    const event = {
      eventId: `start-test-${Date.now()}`,
      type: 'vehicle.arrived',
      crossingId: 'korday',
      direction: 'KZ-KG',
      vehicleClass: 'car',
      occurredAt: new Date(Date.now() - 60_000).toISOString(),
      vehicleRef: '01KZ123ABC',
    };
    const post = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PRODUCER_TOKEN}` },
      body: JSON.stringify(event),
    });
    expect(post.status).toBe(202);
    expect(await post.json()).toMatchObject({ accepted: 1 });
    // no token -> refused: the API got API_TOKENS from npm start's environment
    const anon = await fetch(`${base}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(anon.status).toBe(401);

    sp.proc.kill('SIGINT');
    const res = await Promise.race([sp.exited, new Promise((r) => setTimeout(() => r('timeout'), 45_000))]);
    expect(res).toEqual({ code: 0, signal: null });
    for (const [name, pid] of Object.entries(pids)) expect(isAlive(pid), `${name} still running`).toBe(false);
    for (const p of [port, natsPort, redisPort]) expect(await isPortOpen(p), `port ${p} still open`).toBe(false);
    // the plate never appears in any log line of any process
    expect(sp.output()).not.toContain('01KZ123ABC');
  });
});
