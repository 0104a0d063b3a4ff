/**
 * A performance fix for @nats-io/nats-core 3.x requests (every JetStream publish is one).
 *
 * `RequestOne.resolver` settles the request's promise with the reply and then calls `cancel()` to unregister the
 * request, and `cancel()` always builds `new RequestError("cancelled")` to reject that promise - which is already
 * settled, so the error is thrown away. Building it captures a stack trace: under ingest this was the single largest
 * item of the API's CPU profile (~8 % of its busy time, plus the garbage). After this patch, the clean-up that
 * follows a settled request stops its timer and unregisters it exactly as before, minus the unused error. A request
 * cancelled before it settled (publish failure, timeout, closed connection) still goes through the original
 * `cancel` and gets its error.
 *
 * Applied once per process (shared/nats.ts imports this module). If a future nats-core changes these internals,
 * the patch leaves the class alone and says so through the return value (see test/integration/nats-request-patch).
 */
import { RequestOne } from '@nats-io/nats-core/internal';

const SETTLED = Symbol('kezek.requestSettled');
const PATCHED = Symbol.for('kezek.requestOnePatched');

interface RequestOneInternals {
  [SETTLED]?: boolean;
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  resolver(err: Error | null, msg: unknown): void;
  cancel(err?: Error): void;
}

export function patchRequestOne(): boolean {
  const proto = RequestOne.prototype as unknown as RequestOneInternals & { [PATCHED]?: boolean };
  if (proto[PATCHED]) return true;
  if (typeof proto.resolver !== 'function' || typeof proto.cancel !== 'function') return false;
  const resolver = proto.resolver;
  const cancel = proto.cancel;
  proto.resolver = function (this: RequestOneInternals, err: Error | null, msg: unknown): void {
    this[SETTLED] = true;
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: RequestOneInternals, err?: Error): void {
    if (err === undefined && this[SETTLED]) {
      // what the original does after settling, without the RequestError nobody can observe
      this.timer?.cancel();
      this.mux.cancel(this);
      return;
    }
    cancel.call(this, err);
  };
  proto[PATCHED] = true;
  return true;
}

export const requestOnePatched = patchRequestOne();
