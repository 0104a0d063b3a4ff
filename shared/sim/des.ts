/**
 * A seeded, deterministic discrete-event simulation (DES) of ONE border queue (one crossing x direction x class):
 * a single FIFO line in front of a time-varying number of lanes (booths). It produces v1 contract events, as a
 * producer at the border would report them, together with the exact ground truth they came from.
 *
 * Model
 * - Arrivals: non-homogeneous Poisson process by thinning (rate `arrivalRatePerHour(t)` bounded by
 *   `maxArrivalRatePerHour`), plus `initialQueue` vehicles at startMs.
 * - Service: gamma-distributed (mean, squared coefficient of variation), one vehicle per lane; FIFO.
 * - Lanes: the TRUE number of open lanes is a step function. A lane that closes while busy finishes its vehicle;
 *   no new service starts while `busy >= lanes`. `reportedLanes` is what lanes.changed events say (may be wrong).
 * - Closures: no service starts in [fromMs, toMs); vehicles already at a booth finish.
 * - Abandonment: exponential patience; a vehicle still waiting when its patience runs out leaves the line.
 * - Ground truth: a vehicle's wait = serviceStart - arrival (time to reach a booth, as CBP defines border wait).
 *   PROBES are phantom entities inserted every probeEveryMs with zero service time and infinite patience that emit
 *   no events: a probe's wait is exactly the wait a (patient) vehicle arriving then would have, and it delays nobody.
 *
 * Time is integer epoch milliseconds throughout, so event times and ground truth agree exactly. Events are emitted
 * in processing order, which is event-time order; ties at the same millisecond follow causality (status and lane
 * changes, then departures, then arrivals, then abandonments, then observations), then scheduling order.
 * Events are emitted only for times in [startMs, startMs + durationMs); the simulation keeps running after the end
 * (without arrivals) so every probe and vehicle gets its true outcome. Cost is O(N log N) in the number of entities.
 *
 * Random streams (arrivals, thinning, service, patience, reporting) are derived separately from `seed`, so e.g.
 * enabling abandonment leaves arrival times and service times unchanged (common random numbers).
 */
import type { KezekEvent } from '../events/v1.ts';
import type { VehicleClass } from '../catalogue/schema.ts';
import { createMinHeap } from './heap.ts';
import { bernoulli, createRng, exponential, gammaByMeanScv } from './random.ts';

/** Step function: `value` from `atMs` on (until the next step). */
export interface Step {
  atMs: number;
  value: number;
}

export interface ScenarioSpec {
  crossingId: string;
  direction: string;
  vehicleClass: VehicleClass;
  startMs: number;
  durationMs: number;
  seed: number;
  /** Non-homogeneous Poisson arrival rate (vehicles per hour) at event time t. Must not exceed maxArrivalRatePerHour. */
  arrivalRatePerHour: (tMs: number) => number;
  maxArrivalRatePerHour: number;
  /** TRUE lanes open over time. Before the first step the first step's value applies. */
  lanes: Step[];
  /** What lanes.changed events say (may be wrong); default = lanes. */
  reportedLanes?: Step[];
  serviceTimeMeanSeconds: number;
  /** Squared coefficient of variation of the gamma service time; 1 = exponential. */
  serviceTimeScv: number;
  /** Mean of the exponential patience; undefined = nobody abandons. */
  patienceMeanMinutes?: number;
  /**
   * No service starts during [fromMs, toMs). Emits crossing.status closed at fromMs (with `until` = toMs when
   * announceUntil) and crossing.status open at toMs, scoped to this queue's direction and class.
   */
  closures?: { fromMs: number; toMs: number; announceUntil: boolean }[];
  /** Share of arrivals that emit vehicle.arrived; default 1. */
  reportArrivalProbability?: number;
  /** Share of abandonments that emit vehicle.abandoned; default 1. */
  reportAbandonProbability?: number;
  /** Emit queue.observed with the TRUE number of waiting vehicles on this period (from startMs). */
  observationEveryMs?: number;
  /** Ground-truth probe period (from startMs). 0 or Infinity = no probes. */
  probeEveryMs: number;
  /** Vehicles already waiting at startMs (their vehicle.arrived events carry startMs). */
  initialQueue?: number;
  /** eventId prefix; default `${crossingId}:${direction}:${vehicleClass}:${seed}` (ids are `${prefix}:${n}`). */
  eventIdPrefix?: string;
  /** vehicleRef prefix; default `SIM-${seed}-` (refs are `${prefix}${n}`). */
  vehicleRefPrefix?: string;
  /** `source` field of emitted events; default 'sim:des'. */
  source?: string;
}

export interface SimVehicle {
  ref: string;
  arrivedMs: number;
  serviceStartMs?: number;
  departMs?: number;
  abandonedMs?: number;
}
/** Ground truth: the wait (to reach a booth) of a patient vehicle arriving at atMs. Infinity if never served. */
export interface Probe {
  atMs: number;
  trueWaitSeconds: number;
}
export interface SimResult {
  events: KezekEvent[];
  probes: Probe[];
  vehicles: SimVehicle[];
}

/** Value of a step function at t; steps need not be sorted. Before the first step: the first value; no steps: 0. */
export function stepValueAt(steps: readonly Step[], tMs: number): number {
  let best: Step | undefined;
  let first: Step | undefined;
  for (const s of steps) {
    if (!first || s.atMs < first.atMs) first = s;
    if (s.atMs <= tMs && (!best || s.atMs >= best.atMs)) best = s;
  }
  return (best ?? first)?.value ?? 0;
}

/** An incremental run of the DES: advance event time step by step (the live simulator) or all at once. */
export interface QueueSimulation {
  /** Processes every simulation event with time <= tMs and returns the contract events emitted, in order. */
  advanceTo(tMs: number): KezekEvent[];
  /** Time of the next pending simulation event, or undefined when nothing is left. */
  nextEventMs(): number | undefined;
  /** Event time reached so far. */
  readonly nowMs: number;
  /** TRUE number of vehicles waiting (not yet at a booth, not abandoned). */
  readonly waiting: number;
  /** Ground-truth probes so far (empty when retainHistory is false). */
  probes(): Probe[];
  /** Every vehicle so far (empty when retainHistory is false). */
  vehicles(): SimVehicle[];
}

export interface QueueSimulationOptions {
  /** Keep vehicles and probes for ground truth (default true). A long-running live simulator sets false. */
  retainHistory?: boolean;
}

type EntityState = 'waiting' | 'service' | 'done' | 'abandoned';
interface Entity {
  probe: boolean;
  arrivedMs: number;
  state: EntityState;
  serviceMs: number;
  vehicle?: SimVehicle;
  probeRecord?: Probe;
}

// Tie-break priorities at the same millisecond (lower first): causality for a consumer reading the events.
const P_STATUS = 0;
const P_LANES = 1;
const P_DEPART = 2;
const P_ARRIVE = 3;
const P_ABANDON = 4;
const P_OBSERVE = 5;

type SimEvent =
  | { kind: 'closureStart'; closure: { fromMs: number; toMs: number; announceUntil: boolean } }
  | { kind: 'closureEnd' }
  | { kind: 'trueLanes'; value: number }
  | { kind: 'reportedLanes'; value: number }
  | { kind: 'depart'; entity: Entity }
  | { kind: 'arrivalCandidate'; exactMs: number }
  | { kind: 'initialArrival' }
  | { kind: 'probe' }
  | { kind: 'abandon'; entity: Entity }
  | { kind: 'observe' };
type Scheduled = SimEvent & { t: number; prio: number; seq: number };

const HOUR_MS = 3_600_000;

function checkSpec(spec: ScenarioSpec): void {
  const bad = (field: string, why: string) => {
    throw new RangeError(`ScenarioSpec.${field} ${why}`);
  };
  if (!Number.isFinite(spec.startMs)) bad('startMs', 'must be a finite epoch ms');
  if (!(spec.durationMs > 0)) bad('durationMs', 'must be > 0');
  if (!(spec.maxArrivalRatePerHour >= 0)) bad('maxArrivalRatePerHour', 'must be >= 0');
  if (!(spec.serviceTimeMeanSeconds > 0)) bad('serviceTimeMeanSeconds', 'must be > 0');
  if (!(spec.serviceTimeScv > 0)) bad('serviceTimeScv', 'must be > 0');
  if (spec.patienceMeanMinutes !== undefined && !(spec.patienceMeanMinutes > 0)) bad('patienceMeanMinutes', 'must be > 0 or undefined');
  if (spec.lanes.length === 0) bad('lanes', 'must have at least one step');
  for (const s of [...spec.lanes, ...(spec.reportedLanes ?? [])]) {
    if (!Number.isInteger(s.value) || s.value < 0) bad('lanes', `values must be integers >= 0 (got ${s.value})`);
  }
  for (const c of spec.closures ?? []) if (!(c.toMs > c.fromMs)) bad('closures', 'need toMs > fromMs');
  if (spec.observationEveryMs !== undefined && !(spec.observationEveryMs > 0)) bad('observationEveryMs', 'must be > 0');
  if (spec.initialQueue !== undefined && !(Number.isInteger(spec.initialQueue) && spec.initialQueue >= 0)) bad('initialQueue', 'must be an integer >= 0');
}

export function createQueueSimulation(spec: ScenarioSpec, options: QueueSimulationOptions = {}): QueueSimulation {
  checkSpec(spec);
  const retain = options.retainHistory ?? true;
  const { crossingId, direction, vehicleClass, startMs, seed } = spec;
  const endMs = startMs + spec.durationMs;
  const idPrefix = spec.eventIdPrefix ?? `${crossingId}:${direction}:${vehicleClass}:${seed}`;
  const refPrefix = spec.vehicleRefPrefix ?? `SIM-${seed}-`;
  const source = spec.source ?? 'sim:des';
  const pArrive = spec.reportArrivalProbability ?? 1;
  const pAbandon = spec.reportAbandonProbability ?? 1;
  const serviceMeanMs = spec.serviceTimeMeanSeconds * 1000;
  const patienceMeanMs = spec.patienceMeanMinutes === undefined ? undefined : spec.patienceMeanMinutes * 60_000;
  const interCandidateMeanMs = spec.maxArrivalRatePerHour > 0 ? HOUR_MS / spec.maxArrivalRatePerHour : Infinity;
  const probeEvery = spec.probeEveryMs > 0 && Number.isFinite(spec.probeEveryMs) ? spec.probeEveryMs : undefined;

  const rng = {
    arrivals: createRng(seed, 'arrivals'),
    thinning: createRng(seed, 'thinning'),
    service: createRng(seed, 'service'),
    patience: createRng(seed, 'patience'),
    reportArrive: createRng(seed, 'report-arrive'),
    reportAbandon: createRng(seed, 'report-abandon'),
  };

  const heap = createMinHeap<Scheduled>((a, b) => a.t < b.t || (a.t === b.t && (a.prio < b.prio || (a.prio === b.prio && a.seq < b.seq))));
  let seq = 0;
  const schedule = (t: number, prio: number, ev: SimEvent) => heap.push({ ...ev, t, prio, seq: seq++ });

  // State
  let nowMs = startMs;
  let lanesOpen = stepValueAt(spec.lanes, startMs);
  let busy = 0;
  let closedDepth = 0;
  let waiting = 0;
  let line: Entity[] = [];
  let head = 0;
  let vehicleCount = 0;
  let eventCount = 0;
  const vehicles: SimVehicle[] = [];
  const probes: Probe[] = [];
  let out: KezekEvent[] = [];

  const iso = (t: number) => new Date(t).toISOString();
  const queueBase = (t: number) => ({ crossingId, direction, vehicleClass, occurredAt: iso(t), source });
  const nextId = () => `${idPrefix}:${eventCount++}`;
  const emit = (t: number, build: (eventId: string) => KezekEvent) => {
    if (t >= startMs && t < endMs) out.push(build(nextId()));
  };

  // Static schedule: lanes, reported lanes, closures, first arrival candidate, initial queue, probes, observations.
  for (const s of spec.lanes) if (s.atMs > startMs) schedule(s.atMs, P_LANES, { kind: 'trueLanes', value: s.value });
  const reported = spec.reportedLanes ?? spec.lanes;
  schedule(startMs, P_LANES, { kind: 'reportedLanes', value: stepValueAt(reported, startMs) });
  for (const s of [...reported].sort((a, b) => a.atMs - b.atMs)) {
    if (s.atMs > startMs && s.atMs < endMs) schedule(s.atMs, P_LANES, { kind: 'reportedLanes', value: s.value });
  }
  for (const c of [...(spec.closures ?? [])].sort((a, b) => a.fromMs - b.fromMs)) {
    if (c.toMs <= startMs) continue;
    schedule(Math.max(c.fromMs, startMs), P_STATUS, { kind: 'closureStart', closure: c });
    schedule(c.toMs, P_STATUS, { kind: 'closureEnd' });
  }
  for (let i = 0; i < (spec.initialQueue ?? 0); i++) schedule(startMs, P_ARRIVE, { kind: 'initialArrival' });
  const scheduleCandidate = (fromExact: number) => {
    const exact = fromExact + exponential(rng.arrivals, interCandidateMeanMs);
    if (exact < endMs) schedule(Math.round(exact), P_ARRIVE, { kind: 'arrivalCandidate', exactMs: exact });
  };
  if (Number.isFinite(interCandidateMeanMs)) scheduleCandidate(startMs);
  if (probeEvery !== undefined) schedule(startMs, P_ARRIVE, { kind: 'probe' });
  if (spec.observationEveryMs !== undefined) schedule(startMs, P_OBSERVE, { kind: 'observe' });

  function arriveVehicle(t: number) {
    const n = vehicleCount++;
    const vehicle: SimVehicle = { ref: `${refPrefix}${n}`, arrivedMs: t };
    // Sampled at arrival, in arrival order, from their own streams (common random numbers across scenarios).
    const serviceMs = Math.max(1, Math.round(gammaByMeanScv(rng.service, serviceMeanMs, spec.serviceTimeScv)));
    const patienceMs = patienceMeanMs === undefined ? undefined : Math.round(exponential(rng.patience, patienceMeanMs));
    const entity: Entity = { probe: false, arrivedMs: t, state: 'waiting', serviceMs, vehicle };
    if (retain) vehicles.push(vehicle);
    line.push(entity);
    waiting++;
    if (bernoulli(rng.reportArrive, pArrive)) {
      emit(t, (eventId) => ({ eventId, type: 'vehicle.arrived', ...queueBase(t), vehicleRef: vehicle.ref }));
    }
    if (patienceMs !== undefined) schedule(t + patienceMs, P_ABANDON, { kind: 'abandon', entity });
  }

  function nextWaiting(): Entity | undefined {
    while (head < line.length && line[head]!.state !== 'waiting') head++;
    if (head > 4096 && head * 2 > line.length) {
      line = line.slice(head);
      head = 0;
    }
    return line[head];
  }

  /** Starts service for as many waiting entities as free lanes allow (none during a closure). */
  function dispatch(t: number) {
    while (closedDepth === 0 && busy < lanesOpen) {
      const e = nextWaiting();
      if (!e) return;
      head++;
      if (e.probe) {
        // Zero service time: it reaches a booth and leaves at once, holding no lane.
        e.state = 'done';
        if (e.probeRecord) e.probeRecord.trueWaitSeconds = (t - e.arrivedMs) / 1000;
        continue;
      }
      const v = e.vehicle!;
      e.state = 'service';
      waiting--;
      busy++;
      v.serviceStartMs = t;
      emit(t, (eventId) => ({ eventId, type: 'vehicle.service_started', ...queueBase(t), vehicleRef: v.ref }));
      schedule(t + e.serviceMs, P_DEPART, { kind: 'depart', entity: e });
    }
  }

  function process(ev: Scheduled) {
    const t = ev.t;
    switch (ev.kind) {
      case 'closureStart': {
        closedDepth++;
        const { toMs, announceUntil } = ev.closure;
        emit(t, (eventId) => ({
          eventId,
          type: 'crossing.status',
          ...queueBase(t),
          status: 'closed',
          ...(announceUntil ? { until: iso(toMs) } : {}),
        }));
        break;
      }
      case 'closureEnd':
        closedDepth--;
        if (closedDepth === 0) emit(t, (eventId) => ({ eventId, type: 'crossing.status', ...queueBase(t), status: 'open' }));
        break;
      case 'trueLanes':
        lanesOpen = ev.value;
        break;
      case 'reportedLanes':
        emit(t, (eventId) => ({ eventId, type: 'lanes.changed', ...queueBase(t), lanesOpen: ev.value }));
        break;
      case 'depart': {
        const e = ev.entity;
        e.state = 'done';
        busy--;
        const v = e.vehicle!;
        v.departMs = t;
        emit(t, (eventId) => ({ eventId, type: 'vehicle.crossed', ...queueBase(t), vehicleRef: v.ref }));
        break;
      }
      case 'arrivalCandidate': {
        const rate = spec.arrivalRatePerHour(ev.exactMs);
        if (rate > spec.maxArrivalRatePerHour * (1 + 1e-9)) {
          throw new RangeError(`arrivalRatePerHour(${iso(ev.exactMs)}) = ${rate} exceeds maxArrivalRatePerHour ${spec.maxArrivalRatePerHour}`);
        }
        if (rng.thinning.next() * spec.maxArrivalRatePerHour < rate && t < endMs) arriveVehicle(t);
        scheduleCandidate(ev.exactMs);
        break;
      }
      case 'initialArrival':
        arriveVehicle(t);
        break;
      case 'probe': {
        const probeRecord: Probe = { atMs: t, trueWaitSeconds: Infinity };
        if (retain) probes.push(probeRecord);
        line.push({ probe: true, arrivedMs: t, state: 'waiting', serviceMs: 0, probeRecord });
        if (t + probeEvery! < endMs) schedule(t + probeEvery!, P_ARRIVE, { kind: 'probe' });
        break;
      }
      case 'abandon': {
        const e = ev.entity;
        if (e.state !== 'waiting') break;
        e.state = 'abandoned';
        waiting--;
        const v = e.vehicle!;
        v.abandonedMs = t;
        if (bernoulli(rng.reportAbandon, pAbandon)) {
          emit(t, (eventId) => ({ eventId, type: 'vehicle.abandoned', ...queueBase(t), vehicleRef: v.ref }));
        }
        break;
      }
      case 'observe':
        emit(t, (eventId) => ({ eventId, type: 'queue.observed', ...queueBase(t), queueLength: waiting }));
        if (t + spec.observationEveryMs! < endMs) schedule(t + spec.observationEveryMs!, P_OBSERVE, { kind: 'observe' });
        break;
    }
    dispatch(t);
  }

  return {
    advanceTo(tMs) {
      for (let ev = heap.peek(); ev !== undefined && ev.t <= tMs; ev = heap.peek()) {
        heap.pop();
        nowMs = ev.t;
        process(ev);
      }
      if (tMs > nowMs && Number.isFinite(tMs)) nowMs = tMs;
      const emitted = out;
      out = [];
      return emitted;
    },
    nextEventMs: () => heap.peek()?.t,
    get nowMs() {
      return nowMs;
    },
    get waiting() {
      return waiting;
    },
    probes: () => probes,
    vehicles: () => vehicles,
  };
}

/**
 * Runs a whole scenario. Events cover [startMs, startMs + durationMs); the simulation then runs on (no new
 * arrivals) until every vehicle and probe has its outcome, so the ground truth is exact.
 */
export function simulateQueue(spec: ScenarioSpec): SimResult {
  const sim = createQueueSimulation(spec, { retainHistory: true });
  const events = sim.advanceTo(Infinity);
  return { events, probes: sim.probes(), vehicles: sim.vehicles() };
}
