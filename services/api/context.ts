/** What every route plugin receives: the injected dependencies plus the app-scoped services built from them. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import type { Config } from '../../shared/config.ts';
import type { Subjects } from '../../shared/events/subjects.ts';
import type { Logger } from '../../shared/logger.ts';
import type { QueueReader } from '../../shared/queue-store/api.ts';
import type { ApiStore } from '../../shared/api-store/store.ts';
import type { Access, Authenticator, Principal } from './auth.ts';
import type { EstimatesView } from './view.ts';
import type { SseHub, SseOptions } from './sse.ts';
import type { WebhookOptions, WebhookWorker } from './webhooks.ts';

export interface AppDeps {
  config: Config;
  catalogue: Catalogue;
  nc: NatsConnection;
  redis: Redis;
  reader: QueueReader;
  logger: Logger;
  /** Wall clock, injectable for tests. */
  now?: () => number;
  sse?: Partial<SseOptions>;
  webhooks?: Partial<WebhookOptions>;
  /** Run the webhook delivery worker in this process (default true). */
  deliverWebhooks?: boolean;
}

export interface AppContext {
  config: Config;
  catalogue: Catalogue;
  nc: NatsConnection;
  redis: Redis;
  reader: QueueReader;
  logger: Logger;
  now: () => number;
  js: JetStreamClient;
  subjects: Subjects;
  view: EstimatesView;
  store: ApiStore;
  auth: Authenticator;
  pseudonymKey: string;
  sse: SseHub;
  webhooks: WebhookWorker | undefined;
}

export interface RouteOpts {
  ctx: AppContext;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The app-scoped services (view, store, SSE hub, webhook worker), for main.ts and tests. */
    kezek: AppContext;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    access?: Access;
  }
}
