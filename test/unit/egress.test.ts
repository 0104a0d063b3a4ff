/**
 * services/api/egress.ts: which addresses a webhook may go to (SSRF guard), and the subscription-time check with an
 * injected resolver (the delivery-time check against real DNS and a real socket is in test/integration/webhook.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { isPublicAddress, webhookTargetProblem } from '../../services/api/egress.ts';

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '198.18.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '64:ff9b::7f00:1', 'not-an-ip', '',
  ])('refuses %s', (a) => expect(isPublicAddress(a)).toBe(false));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '::ffff:808:808'])(
    'accepts %s',
    (a) => expect(isPublicAddress(a)).toBe(true),
  );
});

describe('webhookTargetProblem', () => {
  const resolveTo = (addrs: string[]) => async () => addrs;
  it('refuses address literals that are not public, naming the address', async () => {
    expect(await webhookTargetProblem('http://127.0.0.1:6379/', { allowPrivate: false })).toMatch(/127\.0\.0\.1 is not a public address/);
    expect(await webhookTargetProblem('http://[::1]:4222/', { allowPrivate: false })).toMatch(/::1 is not a public address/);
    expect(await webhookTargetProblem('http://169.254.169.254/latest/meta-data', { allowPrivate: false })).toMatch(/169\.254\.169\.254/);
    expect(await webhookTargetProblem('https://8.8.8.8/hook', { allowPrivate: false })).toBeUndefined();
  });

  it('refuses a host name when any address it resolves to is not public', async () => {
    expect(await webhookTargetProblem('https://hooks.example.kz/x', { allowPrivate: false, resolve: resolveTo(['93.184.216.34', '10.0.0.5']) })).toMatch(
      /hooks\.example\.kz resolves to 10\.0\.0\.5/,
    );
    expect(await webhookTargetProblem('https://hooks.example.kz/x', { allowPrivate: false, resolve: resolveTo(['93.184.216.34']) })).toBeUndefined();
  });

  it('accepts a host that does not resolve yet (its deliveries are checked at connect time)', async () => {
    const fail = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect(await webhookTargetProblem('https://not-yet.example.kz/x', { allowPrivate: false, resolve: fail })).toBeUndefined();
  });

  it('allowPrivate lifts the check', async () => {
    expect(await webhookTargetProblem('http://127.0.0.1:6379/', { allowPrivate: true })).toBeUndefined();
  });
});
