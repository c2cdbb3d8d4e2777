// The bus contract of the doors and vending machines: taps and inputs from devices, BusinessMgr's decisions,
// signed commands and allow-lists to devices, and what the devices report back.
import { z } from 'zod';
import { defineMessage, type MessageSpec } from './contract.js';
import { clientNameSchema } from './envelope.js';

const epochMs = z.int().nonnegative();
const memberId = z.string().min(1).max(40);
const messageId = z.string().length(26);
/** A device is a bus client of its own (its name is its client name), so its key can be retired alone. */
export const deviceId = clientNameSchema;
const outputName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'an output name is lowercase letters, digits, "-" and "_"');
const hashedFob = z.strictObject({ hash: z.string().regex(/^[0-9a-f]{64}$/), lastDigits: z.string().regex(/^\d{3}$/) });

export const MachineTopics = {
  command: (device: string) => `dctrl/v1/business-mgr/machine/${device}`,
  allowList: (device: string) => `dctrl/v1/business-mgr/allow-list/${device}`,
  simulateTap: (device: string) => `dctrl/v1/${device}/rpc/simulate-tap`,
} as const;

export const MachineTap = defineMessage({
  type: 'machine.tap',
  topic: 'dctrl/v1/{issuer}/tap',
  kind: 'event',
  sealed: { to: ['business-mgr', 'server'] },
  issuers: 'any',
  description:
    'A fob was presented to a device’s reader (a repeated read within the debounce window is one tap); the fob travels only as its keyed hash and last three digits.',
  payload: z.strictObject({
    device: deviceId,
    fob: hashedFob,
    /** When the reader saw it, by the device clock. */
    at: epochMs,
    reader: z.enum(['evdev', 'serial', 'stdin', 'simulated']),
  }),
});

export const MachineInput = defineMessage({
  type: 'machine.input',
  topic: 'dctrl/v1/{issuer}/input',
  kind: 'event',
  issuers: 'any',
  description: 'A button was pressed or released, or a sensor (door contact, coin, light) changed, on a device.',
  payload: z.strictObject({
    device: deviceId,
    input: outputName,
    kind: z.enum(['button', 'sensor']),
    /** Logical value after any active-low inversion: 1 pressed / closed / present. */
    value: z.union([z.literal(0), z.literal(1)]),
    at: epochMs,
  }),
});

export const commandActions = ['open', 'vend', 'deny'] as const;

export const MachineCommand = defineMessage({
  type: 'machine.command',
  topic: 'dctrl/v1/business-mgr/machine/+',
  kind: 'command',
  // Its tap id and reason say who is in arrears at which door; the device still checks the pinned signature.
  sealed: { to: (payload) => [payload.device] },
  issuers: ['business-mgr'],
  description:
    'BusinessMgr tells one device to open its door, vend (count times, spaced), or not act on a tap (deny). The device acts only when the signature is by its pinned BusinessMgr key, the command names it, has not expired and was never seen.',
  payload: z.strictObject({
    device: deviceId,
    action: z.enum(commandActions),
    /** The output to pulse; for a door its configured door output when absent. */
    output: outputName.optional(),
    count: z.int().min(1).max(20).default(1),
    /** The tap this answers, so the device stops waiting for it (and never acts on it twice). */
    tapId: messageId.optional(),
    decisionId: messageId,
    reason: z.string().min(1).max(64),
  }),
});

/** One window of the week in the space time zone: days 0 (Sunday) to 6 (Saturday), from HH:MM to HH:MM. */
export const doorWindow = z.strictObject({
  days: z.array(z.int().min(0).max(6)).min(1).max(7),
  from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
  to: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
});

export const AllowList = defineMessage({
  type: 'business-mgr.allow-list',
  topic: 'dctrl/v1/business-mgr/allow-list/+',
  kind: 'state',
  sealed: { to: (payload) => [payload.device] },
  issuers: ['business-mgr'],
  retained: true,
  description:
    'The fobs that may open one door while the hub is unreachable: a 128-bit prefix of each keyed fob hash and the hours it may enter, with a version that only grows and an expiry after which the door denies every tap offline.',
  payload: z.strictObject({
    device: deviceId,
    version: z.int().positive(),
    issuedAt: epochMs,
    expiresAt: epochMs,
    timezone: z.string().min(1).max(64),
    /** Sets of windows; an entry names one by index, or -1 for all hours (keyholders). */
    schedules: z.array(z.array(doorWindow).max(64)).max(64),
    entries: z.array(z.tuple([z.string().regex(/^[0-9a-f]{32}$/), z.int().min(-1).max(63)])).max(20_000),
  }),
});

export const MachineActuation = defineMessage({
  type: 'machine.actuation',
  topic: 'dctrl/v1/{issuer}/actuation',
  kind: 'event',
  issuers: 'any',
  description:
    'A device acted on a command (or on its offline allow-list), or failed to: the output, the driver, when it started and finished and why it failed.',
  payload: z.strictObject({
    device: deviceId,
    commandId: messageId.nullable(),
    decisionId: messageId.nullable(),
    action: z.enum(['open', 'vend']),
    output: outputName,
    /** Which of count vends this was, from 1. */
    sequence: z.int().min(1).max(20),
    outcome: z.enum(['actuated', 'failed']),
    driver: z.enum(['gpio', 'script', 'simulated']),
    /** From the command's issued-at to the start of the pulse. */
    latencyMs: z.int().nonnegative().nullable(),
    startedAt: epochMs,
    finishedAt: epochMs,
    error: z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(1000) }).optional(),
  }),
});

export const MachineRefused = defineMessage({
  type: 'machine.refused',
  topic: 'dctrl/v1/{issuer}/refused',
  kind: 'event',
  issuers: 'any',
  description:
    'A device refused a command or an allow-list (signature not by its pinned key, another device, expired, seen before, from the past, unknown output) and why; nothing moved.',
  payload: z.strictObject({
    device: deviceId,
    what: z.enum(['command', 'allow-list']),
    id: z.string().max(64),
    code: z.string().min(1).max(64),
    message: z.string().max(1000),
  }),
});

export const MachineStatus = defineMessage({
  type: 'machine.status',
  topic: 'dctrl/v1/{issuer}/machine-status',
  kind: 'state',
  issuers: 'any',
  retained: true,
  description:
    'A device’s heartbeat: its kind, whether it decides from the bus or offline, its allow-list, queued vends, uploads waiting and its last actuation.',
  payload: z.strictObject({
    device: deviceId,
    kind: z.enum(['door', 'vending']),
    mode: z.enum(['online', 'offline']),
    allowList: z.strictObject({ version: z.int().positive(), expiresAt: epochMs, entries: z.int().nonnegative() }).nullable(),
    queuedVends: z.int().nonnegative(),
    offlineLogPending: z.int().nonnegative(),
    lastActuationAt: epochMs.nullable(),
    heartbeatAt: epochMs,
  }),
});

export const offlineReasons = [
  'allow-listed',
  'keyholder',
  'unknown-fob',
  'outside-hours',
  'no-allow-list',
  'allow-list-expired',
  'clock-behind',
] as const;

export const OfflineLog = defineMessage({
  type: 'business-mgr.offline-log',
  topic: 'dctrl/v1/business-mgr/rpc/offline-log',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'A door uploads what it decided from its allow-list while the hub was unreachable, once the bus returns; BusinessMgr stores each entry once by its local id, so the door re-sends until it hears the reply.',
  payload: z.strictObject({
    device: deviceId,
    entries: z
      .array(
        z.strictObject({
          localId: messageId,
          tapId: messageId.nullable(),
          at: epochMs,
          fob: z.strictObject({ key: z.string().regex(/^[0-9a-f]{32}$/), lastDigits: z.string().regex(/^\d{3}$/) }),
          allowed: z.boolean(),
          reason: z.enum(offlineReasons),
          allowListVersion: z.int().positive().nullable(),
          actuated: z.boolean(),
        }),
      )
      .min(1)
      .max(100),
  }),
  reply: z.strictObject({ stored: z.int().nonnegative(), duplicates: z.int().nonnegative() }),
  /** Any door by name (machines.devices); BusinessMgr takes only a door's own log. */
  askers: 'any',
});

export const decisionReasons = [
  'member-active',
  'keyholder',
  'unknown-fob',
  'inactive',
  'left',
  'outside-hours',
  'not-allowed-here',
  'stale-tap',
  'unknown-device',
  'insufficient-balance',
  'charge-failed',
  'no-product',
  'invoice-paid',
  'invoice-too-late',
  'vend-failed',
  ...offlineReasons.filter((reason) => reason !== 'keyholder' && reason !== 'unknown-fob' && reason !== 'outside-hours'),
] as const;

const decision = z.strictObject({
  decisionId: messageId,
  at: epochMs,
  device: deviceId,
  kind: z.enum(['door', 'vend']),
  /** fob: decided by BusinessMgr on a tap; bitcoin: a paid invoice; offline: by the door from its allow-list. */
  via: z.enum(['fob', 'bitcoin', 'offline']),
  allowed: z.boolean(),
  reason: z.enum(decisionReasons),
  tapId: messageId.nullable(),
  invoiceId: z.string().max(26).nullable(),
  memberId: memberId.nullable(),
  fobLastDigits: z.string().max(3).nullable(),
  product: z.string().max(64).nullable(),
  count: z.int().nonnegative(),
  cents: z.int().nonnegative().nullable(),
  /** Set later when the device reported the actuation: actuated, failed, or null while unknown. */
  outcome: z.enum(['actuated', 'failed']).nullable(),
});
export type Decision = z.infer<typeof decision>;

export const BusinessDecision = defineMessage({
  type: 'business-mgr.decision',
  topic: 'dctrl/v1/business-mgr/decision',
  kind: 'event',
  // Who came in, or was refused for arrears: for the Server's live view and metrics only.
  sealed: { to: ['server'] },
  issuers: ['business-mgr'],
  description:
    'Every door and vend decision, allowed or denied with its reason, including those a door made offline once they are uploaded.',
  payload: decision,
});

export const DecisionsQuery = defineMessage({
  type: 'business-mgr.decisions',
  topic: 'dctrl/v1/business-mgr/rpc/decisions',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'The recorded decisions, newest first, filtered by device, member, tap or invoice, a page at a time (`before` is the last decision id of the previous page).',
  payload: z.strictObject({
    device: deviceId.optional(),
    memberId: memberId.optional(),
    tapId: messageId.optional(),
    invoiceId: z.string().max(26).optional(),
    before: messageId.optional(),
    limit: z.int().positive().max(200).optional(),
  }),
  reply: z.strictObject({ decisions: z.array(decision), next: messageId.nullable() }),
  askers: ['cli', 'server'],
});

export const SimulateTap = defineMessage({
  type: 'machine.simulate-tap',
  topic: 'dctrl/v1/+/rpc/simulate-tap',
  kind: 'request',
  sealed: { to: 'responder' },
  /** Only the operators' tools: a client that has seen a tap's fob hash must not be able to present it again. */
  issuers: ['cli', 'server'],
  description:
    'For a device with a simulated reader only: present a fob (already hashed by the sender) as if it were read there. The reply names the tap id.',
  payload: z.strictObject({ fob: hashedFob }),
  reply: z.strictObject({ tapId: messageId.nullable(), debounced: z.boolean() }),
  askers: ['cli', 'server'],
});

export const machineMessages: readonly MessageSpec[] = [
  MachineTap,
  MachineInput,
  MachineCommand,
  AllowList,
  MachineActuation,
  MachineRefused,
  MachineStatus,
  OfflineLog,
  BusinessDecision,
  DecisionsQuery,
  SimulateTap,
] as MessageSpec[];
