// What the Server has heard from the doors and vending machines: their retained heartbeats (machine.status) and
// actuations, kept per configured device, so the device list answers without asking anyone.
import type { z } from 'zod';
import type { BusClient } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { Envelope } from '../core/envelope.js';
import { MachineActuation, MachineStatus } from '../core/messages-machine.js';
import type { deviceLine } from './api-shapes.js';

export type DeviceLine = z.infer<typeof deviceLine>;

/** What the Server has heard from the devices: their heartbeats and actuations. */
export interface DeviceBoard {
  /**
   * Subscribes to machine.status and machine.actuation. Start it before anything on the client subscribes to
   * everything: the retained heartbeats then come on these topics first, and a copy the client already accepted
   * is not handed over again.
   */
  start(): Promise<void>;
  stop(): void;
  /** Every configured device, in id order, as of the clock now. */
  list(): DeviceLine[];
}

interface Heartbeat {
  issuedAt: number;
  expiresAt: number;
  status: z.infer<typeof MachineStatus.payload>;
}

/** Builds the board and registers its handlers at once; create it before the client starts. */
export function createDeviceBoard(options: {
  bus: Pick<BusClient, 'on' | 'subscribe'>;
  clock: Clock;
  devices: Config['machines']['devices'];
}): DeviceBoard {
  const { bus, clock, devices } = options;
  const heartbeats = new Map<string, Heartbeat>();
  const actuations = new Map<string, NonNullable<DeviceLine['lastActuation']>>();
  let stopped = false;

  // A device reports only about itself: the device a payload names is the client that signed it.
  const hear = (device: string, envelope: Envelope): boolean => !stopped && device === envelope.issuer && device in devices;

  const line = (device: string, kind: DeviceLine['kind']): DeviceLine => {
    const beat = heartbeats.get(device);
    const actuation = actuations.get(device) ?? null;
    const now = clock.now();
    const lastActuationAt = Math.max(beat?.status.lastActuationAt ?? -1, actuation?.at ?? -1);
    return {
      device,
      kind,
      online: beat !== undefined && now <= beat.expiresAt,
      // A device clock ahead of ours (within the allowed skew) does not make it seen in the future.
      lastSeenAt: beat ? Math.min(beat.issuedAt, now) : null,
      lastActuationAt: lastActuationAt < 0 ? null : lastActuationAt,
      lastActuation: actuation,
      detail: beat
        ? {
            mode: beat.status.mode,
            queuedVends: beat.status.queuedVends,
            offlineLogPending: beat.status.offlineLogPending,
            allowListVersion: beat.status.allowList?.version ?? null,
            allowListExpiresAt: beat.status.allowList?.expiresAt ?? null,
          }
        : null,
    };
  };

  // Heard from creation, before the client connects: a persistent session hands over what the broker kept for it
  // the moment it connects, and a message no handler took then is a duplicate when it comes again.
  bus.on(MachineStatus, (status, envelope) => {
    if (!hear(status.device, envelope)) return;
    const previous = heartbeats.get(status.device);
    if (previous && previous.issuedAt > envelope.issuedAt) return;
    // State messages always carry expiresAt (the bus checks refuse them otherwise).
    heartbeats.set(status.device, {
      issuedAt: envelope.issuedAt,
      expiresAt: envelope.expiresAt ?? envelope.issuedAt,
      status,
    });
  });
  bus.on(MachineActuation, (actuation, envelope) => {
    if (!hear(actuation.device, envelope)) return;
    const previous = actuations.get(actuation.device);
    if (previous && previous.at > actuation.finishedAt) return;
    const { action, output, outcome } = actuation;
    actuations.set(actuation.device, { at: actuation.finishedAt, action, output, outcome });
  });

  return {
    async start() {
      await bus.subscribe(MachineStatus.topic.replaceAll('{issuer}', '+'));
      await bus.subscribe(MachineActuation.topic.replaceAll('{issuer}', '+'));
    },
    stop() {
      stopped = true;
    },
    list() {
      return Object.entries(devices)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([device, settings]) => line(device, settings.kind));
    },
  };
}
