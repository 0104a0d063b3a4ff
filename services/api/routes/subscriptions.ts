/** Webhook subscriptions: create (secret shown once), list, delete, and the delivery log. Owner-scoped; admin sees all. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ApiStoreError, DeliveryAttemptSchema, type SubscriptionRecord } from '../../../shared/api-store/store.ts';
import type { RouteOpts } from '../context.ts';
import { webhookTargetProblem } from '../egress.ts';
import { badRequest, notFound } from '../errors.ts';
import { checkQueueFilter, requireCrossing } from '../lookup.ts';
import { EmptyQuerySchema, ErrorBodySchema, SubscriptionBodySchema, SubscriptionParamsSchema } from '../schemas.ts';
import { docSchema, zs } from '../validation.ts';

/**
 * A URL as shown back. New subscriptions cannot carry credentials (schemas.ts WEBHOOK_URL_CREDENTIALS_MESSAGE); one
 * stored before that rule still may, and its user name and password are masked rather than echoed on every read.
 */
function shownUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw;
  }
  if (url.username === '' && url.password === '') return raw;
  if (url.username !== '') url.username = '***';
  if (url.password !== '') url.password = '***';
  return url.href;
}
const publicView = ({ secret: _secret, owner: _owner, ...rest }: SubscriptionRecord) => ({ ...rest, url: shownUrl(rest.url) });
const SubDoc = z.object({ id: z.string(), url: z.string(), crossingId: z.string(), direction: z.string().nullable(), vehicleClass: z.string().nullable(), waitAboveSeconds: z.number().nullable(), onClosure: z.boolean(), createdAt: z.string() });
const subExample = { id: 'sub_3q2Jx0aVbq5nW9kZ', url: 'https://ops.example.kz/kezek-hook', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', waitAboveSeconds: 7200, onClosure: true, createdAt: '2026-11-22T06:00:00.000Z' };

export async function subscriptionRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  const owner = (req: FastifyRequest) => req.principal!.clientId;
  const isAdmin = (req: FastifyRequest) => req.principal?.role === 'admin';
  const security = [{ bearer: [] }];

  const findOwned = async (req: FastifyRequest, id: string): Promise<SubscriptionRecord> => {
    const sub = await ctx.store.getSubscription(id);
    // someone else's subscription is reported as missing: ids must not be probeable
    if (!sub || (!isAdmin(req) && sub.owner !== owner(req))) throw notFound(`no subscription ${id}`);
    return sub;
  };

  app.post<{ Body: z.infer<typeof SubscriptionBodySchema> }>(
    '/v1/subscriptions',
    {
      config: { access: { kind: 'write', roles: ['reader'] } },
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a URL to threshold / closure notifications',
        description:
          'Role reader or admin. The `secret` is returned only here: keep it to verify Kezek-Signature. `url` must be http(s), name a public ' +
          'address (unless the deployment sets WEBHOOK_PRIVATE_TARGETS=on) and carry no credentials (`user:password@`): those would be stored, ' +
          'shown back and written to access logs; a 400 names `body.url` and the reason, without repeating the URL.',
        security,
        body: zs(SubscriptionBodySchema, { examples: [{ url: 'https://ops.example.kz/kezek-hook', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', waitAboveSeconds: 7200, onClosure: true }] }),
        response: { 201: docSchema(SubDoc.extend({ secret: z.string() }), { examples: [{ ...subExample, secret: 'whsec_...' }] }), 400: docSchema(ErrorBodySchema) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      checkQueueFilter(requireCrossingFor400(ctx, b.crossingId), b.direction, b.vehicleClass, 'body');
      if (b.waitAboveSeconds === undefined && !b.onClosure) throw badRequest('give waitAboveSeconds and/or onClosure: true', [{ path: 'body', message: 'no rule to notify on' }]);
      const problem = await webhookTargetProblem(b.url, { allowPrivate: ctx.config.WEBHOOK_PRIVATE_TARGETS === 'on' });
      if (problem !== undefined) throw badRequest(`url: ${problem}; webhooks go to public addresses only`, [{ path: 'body.url', message: problem }]);
      const rec: SubscriptionRecord = {
        id: `sub_${randomBytes(12).toString('base64url')}`,
        owner: owner(request),
        url: b.url,
        crossingId: b.crossingId,
        direction: b.direction ?? null,
        vehicleClass: b.vehicleClass ?? null,
        waitAboveSeconds: b.waitAboveSeconds ?? null,
        onClosure: b.onClosure ?? false,
        secret: `whsec_${randomBytes(24).toString('base64url')}`,
        createdAt: new Date(ctx.now()).toISOString(),
      };
      await ctx.store.addSubscription(rec);
      ctx.webhooks?.invalidate(rec.crossingId);
      void reply.header('Location', `/v1/subscriptions/${rec.id}`);
      return reply.code(201).send({ ...publicView(rec), secret: rec.secret });
    },
  );

  app.get(
    '/v1/subscriptions',
    {
      config: { access: { kind: 'read', roles: ['reader'] } },
      schema: { tags: ['webhooks'], summary: 'Your subscriptions (admin: all)', security, querystring: zs(EmptyQuerySchema), response: { 200: docSchema(z.object({ subscriptions: z.array(SubDoc) }), { examples: [{ subscriptions: [subExample] }] }) } },
    },
    async (request) => ({ subscriptions: (await ctx.store.listSubscriptions(isAdmin(request) ? undefined : owner(request))).map(publicView) }),
  );

  app.get<{ Params: z.infer<typeof SubscriptionParamsSchema> }>(
    '/v1/subscriptions/:id',
    {
      config: { access: { kind: 'read', roles: ['reader'] } },
      schema: { tags: ['webhooks'], summary: 'One of your subscriptions (the Location of a 201); the secret is not shown again', security, params: zs(SubscriptionParamsSchema), querystring: zs(EmptyQuerySchema), response: { 200: docSchema(SubDoc, { examples: [subExample] }), 404: docSchema(ErrorBodySchema) } },
    },
    async (request) => publicView(await findOwned(request, request.params.id)),
  );

  app.delete<{ Params: z.infer<typeof SubscriptionParamsSchema> }>(
    '/v1/subscriptions/:id',
    {
      config: { access: { kind: 'write', roles: ['reader'] } },
      schema: { tags: ['webhooks'], summary: 'Delete a subscription and its delivery log', security, params: zs(SubscriptionParamsSchema), querystring: zs(EmptyQuerySchema), response: { 204: { type: 'null', description: 'Deleted' }, 404: docSchema(ErrorBodySchema) } },
    },
    async (request, reply) => {
      const sub = await findOwned(request, request.params.id);
      try {
        await ctx.store.removeSubscription(sub.id, sub.crossingId, isAdmin(request) ? '*' : owner(request));
      } catch (err) {
        if (err instanceof ApiStoreError && (err.code === 'SUBSCRIPTION_NOT_FOUND' || err.code === 'SUBSCRIPTION_FORBIDDEN')) throw notFound(`no subscription ${sub.id}`);
        throw err;
      }
      ctx.webhooks?.invalidate(sub.crossingId);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: z.infer<typeof SubscriptionParamsSchema> }>(
    '/v1/subscriptions/:id/deliveries',
    {
      config: { access: { kind: 'read', roles: ['reader'] } },
      schema: {
        tags: ['webhooks'], summary: 'Delivery log of a subscription (newest first, last 100 attempts)', security, params: zs(SubscriptionParamsSchema), querystring: zs(EmptyQuerySchema),
        response: { 200: docSchema(z.object({ deliveries: z.array(DeliveryAttemptSchema) }), { examples: [{ deliveries: [{ deliveryId: 'dlv_x', subscriptionId: subExample.id, attempt: 2, at: '2026-11-22T06:01:04.000Z', outcome: 'delivered', statusCode: 200, error: null, durationMs: 41, rule: 'wait_above' }] }] }), 404: docSchema(ErrorBodySchema) },
      },
    },
    async (request) => {
      const sub = await findOwned(request, request.params.id);
      return { deliveries: await ctx.store.deliveries(sub.id) };
    },
  );
}

/** In a body, an unknown crossing is a 400 (the resource is the subscription, not the crossing). */
function requireCrossingFor400(ctx: RouteOpts['ctx'], id: string) {
  try {
    return requireCrossing(ctx.catalogue, id);
  } catch {
    throw badRequest(`unknown crossing "${id}"`, [{ path: 'body.crossingId', message: `unknown crossing; known: ${ctx.catalogue.crossings.map((c) => c.id).join(', ')}` }]);
  }
}
