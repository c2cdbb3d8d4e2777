// The message types of the bus contract that the foundation services publish; one table, in code.
import { z } from 'zod';
import { mailMessages } from './messages-mail.js';
import { payoutMessages } from './messages-payout.js';
import { defineMessage, MessageRegistry, type MessageSpec } from './contract.js';
import { clientNameSchema } from './envelope.js';
import { chainMessages } from './messages-chain.js';
import { priceMessages } from './messages-price.js';
import { machineMessages } from './messages-machine.js';

const epochMs = z.int().nonnegative();
const wireError = z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(2000) });

export const Topics = {
  root: 'dctrl/v1',
  everything: 'dctrl/v1/#',
  directory: 'dctrl/v1/vault/directory',
  revocations: 'dctrl/v1/vault/revocations',
  tokenRenew: 'dctrl/v1/vault/rpc/token-renew',
  replyBase: (client: string) => `dctrl/v1/${client}/reply`,
  privateReplyBase: (client: string) => `dctrl/private/${client}/reply`,
  checkpoint: 'dctrl/v1/event-logger/checkpoint',
  replayRequest: 'dctrl/v1/event-logger/rpc/replay',
  replayStream: (session: string) => `dctrl/v1/event-logger/replay/${session}`,
  /** Broker control, not a bus message: a connected client hands the broker its renewed token. */
  sessionRenew: '$dctrl/session/renew',
} as const;

export const KeyDirectory = defineMessage({
  type: 'vault.directory',
  topic: Topics.directory,
  kind: 'state',
  issuers: ['vault'],
  retained: true,
  description:
    'Every client name, its Ed25519 public key and its X25519 key for payloads sealed to it, signed by the Vault root key.',
  payload: z.strictObject({
    version: z.int().positive(),
    keys: z
      .array(
        z.strictObject({
          client: clientNameSchema,
          publicKey: z.string().length(43),
          /** X25519, base64url: what is sealed to this client is encrypted to it (see src/core/seal.ts). */
          encryptionKey: z.string().length(43).optional(),
        }),
      )
      .max(10_000),
  }),
});

export const Revocations = defineMessage({
  type: 'vault.revocations',
  topic: Topics.revocations,
  kind: 'state',
  issuers: ['vault'],
  retained: true,
  description: 'Tokens revoked before their expiry; the broker disconnects their holders.',
  payload: z.strictObject({
    version: z.int().nonnegative(),
    revoked: z.array(z.strictObject({ tokenId: z.string().min(1).max(64), client: clientNameSchema, expiresAt: epochMs })),
  }),
});

export const DirectoryGet = defineMessage({
  type: 'vault.directory.get',
  topic: 'dctrl/v1/vault/rpc/directory',
  kind: 'request',
  issuers: 'any',
  description:
    'A client asks the Vault for its current key directory and revocation list (at start, and when the retained ones run low), so a retained copy that is garbage or old cannot keep it from starting or keep a retired key trusted.',
  payload: z.strictObject({}),
  reply: z.strictObject({ directory: KeyDirectory.payload, revocations: Revocations.payload, expiresAt: epochMs }),
  /** Every client needs it before it trusts anyone; the answer is public and signed by the root key. */
  askers: 'any',
});

export const TokenRenew = defineMessage({
  type: 'vault.token.renew',
  topic: Topics.tokenRenew,
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  privateReply: true,
  description:
    'A client asks the Vault for a fresh token with the same grants as its current one, naming it by id (the signature proves who asks; the token itself never travels on the public tree).',
  payload: z.strictObject({ tokenId: z.string().min(1).max(64) }),
  reply: z.strictObject({ token: z.string(), tokenId: z.string(), expiresAt: epochMs }),
  /** Every client renews its own token; the Vault renews only the token of the client that signs. */
  askers: 'any',
});

export const SecretGet = defineMessage({
  type: 'vault.secret',
  topic: 'dctrl/v1/vault/rpc/secret',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  privateReply: true,
  description:
    'A service asks for a named secret it is allowed to read (the fob hash key); the answer goes on its private reply topic.',
  payload: z.strictObject({ name: z.string().min(1).max(64) }),
  reply: z.strictObject({ name: z.string(), value: z.string().max(1024) }),
  /** Devices by name (machines.devices); the Vault checks vault.secretReaders. */
  askers: 'any',
});

export const RpcReply = defineMessage({
  type: 'rpc.reply',
  topic: 'dctrl/v1/+/reply/+',
  kind: 'reply',
  issuers: 'any',
  description: 'The answer to a request: a result checked against the request type, or a coded error.',
  payload: z.union([
    z.strictObject({ ok: z.literal(true), result: z.unknown() }),
    z.strictObject({ ok: z.literal(false), error: wireError }),
  ]),
});

export const RpcPrivateReply = defineMessage({
  type: 'rpc.private-reply',
  topic: 'dctrl/private/+/reply/+',
  kind: 'reply',
  issuers: 'any',
  description: 'The answer to a request whose result is secret; only the requester may subscribe to it, and it is never logged.',
  payload: RpcReply.payload,
});

export const AuditRejected = defineMessage({
  type: 'audit.rejected',
  topic: 'dctrl/v1/{issuer}/audit',
  kind: 'event',
  issuers: 'any',
  description: 'A client dropped an inbound message before any handler saw it, and why.',
  payload: z.strictObject({
    reason: z.string().min(1).max(64),
    message: z.string().max(2000),
    topic: z.string().max(1024),
    claimedIssuer: z.string().max(128).optional(),
    claimedId: z.string().max(128).optional(),
    claimedType: z.string().max(128).optional(),
    suppressed: z.int().nonnegative(),
  }),
});

export const AuditDenied = defineMessage({
  type: 'audit.denied',
  topic: 'dctrl/v1/{issuer}/audit',
  kind: 'event',
  issuers: ['subscription-mgr'],
  description: 'The broker refused a connect, publish or subscribe, or cut a session, and why.',
  payload: z.strictObject({
    client: z.string().max(256),
    action: z.enum(['connect', 'publish', 'subscribe', 'session']),
    topic: z.string().max(1024).optional(),
    reason: z.string().min(1).max(64),
    message: z.string().max(2000),
    suppressed: z.int().nonnegative(),
  }),
});

export const ServiceStatus = defineMessage({
  type: 'service.status',
  topic: 'dctrl/v1/{issuer}/status',
  kind: 'state',
  issuers: 'any',
  retained: true,
  description:
    'Heartbeat of a running client, re-sent every bus.heartbeatMs and valid for three of them; expired means it is gone.',
  payload: z.strictObject({
    state: z.enum(['up', 'stopping']),
    startedAt: epochMs,
    version: z.string().max(64),
  }),
});

export const Ping = defineMessage({
  type: 'bus.ping',
  topic: 'dctrl/v1/{issuer}/ping',
  kind: 'event',
  issuers: 'any',
  description: 'A probe message for health checks and the bus benchmark.',
  payload: z.strictObject({ seq: z.int().nonnegative(), sentAtNs: z.string().max(32), pad: z.string().max(60_000) }),
});

export const LogCheckpoint = defineMessage({
  type: 'event-logger.checkpoint',
  topic: Topics.checkpoint,
  kind: 'event',
  issuers: ['event-logger'],
  description: 'The head of the hash-chained event log, so a truncated log shows against copies held elsewhere.',
  payload: z.strictObject({ seq: z.int().nonnegative(), hash: z.string().length(64), segment: z.string().max(64) }),
});

export const LogAlarm = defineMessage({
  type: 'event-logger.alarm',
  topic: 'dctrl/v1/event-logger/alarm',
  kind: 'event',
  issuers: ['event-logger'],
  description:
    'The event log reached eventLogger.warnAtPercent of its disk budget, passed it, or cannot write (disk full: records wait in memory); raised at once and again at every checkpoint while it lasts.',
  payload: z.strictObject({
    level: z.enum(['warning', 'over-budget', 'write-failing']),
    usedBytes: z.int().nonnegative(),
    warnBytes: z.int().nonnegative(),
    budgetBytes: z.int().nonnegative(),
    unwrittenRecords: z.int().nonnegative().optional(),
  }),
});

export const LogDropped = defineMessage({
  type: 'event-logger.dropped',
  topic: 'dctrl/v1/event-logger/dropped',
  kind: 'event',
  issuers: ['event-logger'],
  description:
    'Messages of one issuer the EventLogger accepted but did not write, past eventLogger.issuerBytesPerSecond: how many, how large, between which ids; written into the chain itself.',
  payload: z.strictObject({
    issuer: clientNameSchema,
    messages: z.int().positive(),
    bytes: z.int().nonnegative(),
    firstAt: epochMs,
    lastAt: epochMs,
    firstId: z.string().max(26),
    lastId: z.string().max(26),
  }),
});

export const ReplayRequest = defineMessage({
  type: 'event-logger.replay',
  topic: Topics.replayRequest,
  kind: 'request',
  issuers: 'any',
  description: 'Ask the EventLogger to re-publish logged envelopes from an id or a time onto a replay topic.',
  payload: z.strictObject({
    /** The requester subscribes to dctrl/v1/event-logger/replay/<session> before asking. */
    session: z.string().regex(/^[a-z0-9-]{1,64}$/),
    fromId: z.string().max(26).optional(),
    fromTime: epochMs.optional(),
    limit: z.int().positive().max(100_000),
    topicFilter: z.string().max(1024).optional(),
  }),
  reply: z.strictObject({ replayTopic: z.string(), count: z.int().nonnegative() }),
  askers: ['cli', 'server'],
});

export const Replayed = defineMessage({
  type: 'event-logger.replayed',
  topic: 'dctrl/v1/event-logger/replay/+',
  kind: 'event',
  // The log in full, personal data included: the EventLogger seals each one to the client that asked (see askers).
  sealed: { to: ['cli', 'server'] },
  issuers: ['event-logger'],
  description: 'One logged envelope, re-published whole so its original signature can still be checked.',
  payload: z.strictObject({
    seq: z.int().nonnegative(),
    receivedAt: epochMs,
    topic: z.string(),
    envelope: z.unknown(),
    last: z.boolean(),
  }),
});

const settingKind = z.enum(['tier', 'product', 'policy']);
const day = z.string().max(40);
const settingChange = z.strictObject({
  id: z.string(),
  kind: settingKind,
  key: z.string().max(64),
  value: z.unknown(),
  effectiveFrom: day,
  recordedAt: epochMs,
  recordedBy: z.string().max(64),
  note: z.string().max(500).nullable(),
});

export const SettingSet = defineMessage({
  type: 'business-data.set',
  topic: 'dctrl/v1/business-data/rpc/set',
  kind: 'request',
  issuers: 'any',
  description:
    'Change a dues tier, product or policy from a given day on (today in the space time zone by default); only businessData.editors may.',
  payload: z.strictObject({
    kind: settingKind,
    key: z.string().max(64),
    value: z.unknown(),
    effectiveFrom: day.optional(),
    note: z.string().max(500).optional(),
  }),
  reply: z.strictObject({ change: settingChange }),
  askers: ['cli', 'server'],
});

export const SettingsGet = defineMessage({
  type: 'business-data.get',
  topic: 'dctrl/v1/business-data/rpc/get',
  kind: 'request',
  issuers: 'any',
  description: 'Every tier, product and policy in force on a day (today in the space time zone when none is given).',
  payload: z.strictObject({ at: day.optional() }),
  reply: z.strictObject({
    at: day,
    tiers: z.record(z.string(), z.unknown()),
    products: z.record(z.string(), z.unknown()),
    policies: z.record(z.string(), z.unknown()),
  }),
  askers: ['cli', 'server', 'member-data', 'reporter', 'chain-notifier', 'business-mgr', 'member-mail', 'payout-mgr'],
});

export const SettingHistory = defineMessage({
  type: 'business-data.history',
  topic: 'dctrl/v1/business-data/rpc/history',
  kind: 'request',
  issuers: 'any',
  description: 'Every change ever made to one tier, product or policy, oldest first.',
  payload: z.strictObject({ kind: settingKind, key: z.string().max(64) }),
  reply: z.strictObject({ changes: z.array(settingChange) }),
  askers: ['cli', 'server'],
});

export const SettingChanged = defineMessage({
  type: 'business-data.changed',
  topic: 'dctrl/v1/business-data/changed',
  kind: 'event',
  issuers: ['business-data'],
  description: 'A tier, product or policy changed (from its effective day on).',
  payload: settingChange,
});

const memberId = z.string().min(1).max(40);
const memberFacts = z.strictObject({
  memberId,
  name: z.string(),
  email: z.string(),
  tier: z.string(),
  exempt: z.boolean(),
  status: z.enum(['member', 'left']),
  joinedAt: epochMs,
  fobs: z.array(z.strictObject({ fobHash: z.string(), lastDigits: z.string() })),
  /** Groups granted to the member (keyholders, …) and badges earned (trained on a tool), as recorded. */
  groups: z.array(z.string()),
  badges: z.array(z.string()),
});
const hashedFobWire = z.strictObject({ hash: z.string().max(64), lastDigits: z.string().max(3) });

export const MemberCommand = defineMessage({
  type: 'member-data.command',
  topic: 'dctrl/v1/member-data/rpc/command',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Record a member fact (join, email or tier change, fob issued or revoked, exemption, leaving, rejoining, group or badge added or taken away); only memberData.editors may. Fobs travel as keyed hashes.',
  payload: z.discriminatedUnion('action', [
    z.strictObject({
      action: z.literal('join'),
      name: z.string().max(200),
      email: z.string().max(300),
      tier: z.string().max(64),
    }),
    z.strictObject({ action: z.literal('change-email'), memberId, email: z.string().max(300) }),
    z.strictObject({ action: z.literal('change-tier'), memberId, tier: z.string().max(64) }),
    z.strictObject({
      action: z.literal('issue-fob'),
      memberId,
      fob: hashedFobWire,
    }),
    z.strictObject({ action: z.literal('revoke-fob'), memberId, fob: z.string().max(64) }),
    z.strictObject({ action: z.literal('set-exempt'), memberId, reason: z.string().max(200) }),
    z.strictObject({ action: z.literal('clear-exempt'), memberId }),
    z.strictObject({ action: z.literal('leave'), memberId }),
    z.strictObject({ action: z.literal('rejoin'), memberId }),
    z.strictObject({ action: z.literal('add-group'), memberId, group: z.string().max(64) }),
    z.strictObject({ action: z.literal('remove-group'), memberId, group: z.string().max(64) }),
    z.strictObject({ action: z.literal('award-badge'), memberId, badge: z.string().max(64) }),
    z.strictObject({ action: z.literal('revoke-badge'), memberId, badge: z.string().max(64) }),
  ]),
  reply: z.strictObject({ member: memberFacts }),
  askers: ['cli', 'server'],
});

export const MemberQuery = defineMessage({
  type: 'member-data.query',
  topic: 'dctrl/v1/member-data/rpc/query',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'One member by id, or the current members (and, when asked, those who left) a page at a time in id order: pass the previous reply’s `next` as `after`.',
  payload: z.strictObject({
    memberId: memberId.optional(),
    includeLeft: z.boolean().optional(),
    after: memberId.optional(),
    limit: z.int().positive().max(100).optional(),
  }),
  reply: z.strictObject({ members: z.array(memberFacts), next: memberId.nullable() }),
  askers: ['cli', 'server', 'chain-notifier', 'business-mgr', 'member-mail', 'payout-mgr'],
});

export const MemberImport = defineMessage({
  type: 'member-data.import',
  topic: 'dctrl/v1/member-data/rpc/import',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Add many members at once (a CSV the CLI has read): all or nothing, and a bad row is named by its line. Only memberData.editors may.',
  payload: z.strictObject({
    rows: z
      .array(
        z.strictObject({
          line: z.int().positive(),
          name: z.string().max(200),
          email: z.string().max(300),
          tier: z.string().max(64),
          fob: hashedFobWire.optional(),
        }),
      )
      .min(1)
      .max(300),
  }),
  reply: z.strictObject({ memberIds: z.array(memberId) }),
  askers: ['cli', 'server'],
});

export const MemberEvents = defineMessage({
  type: 'member-data.events',
  topic: 'dctrl/v1/member-data/rpc/events',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'The recorded member facts after an event id, oldest first, a page at a time: how the Reporter catches up after downtime.',
  payload: z.strictObject({ afterId: z.string().max(26).optional(), limit: z.int().positive().max(200) }),
  reply: z.strictObject({
    events: z.array(
      z.strictObject({
        id: z.string().length(26),
        memberId,
        event: z.record(z.string(), z.unknown()),
        recordedAt: epochMs,
        recordedBy: z.string().max(64),
      }),
    ),
    more: z.boolean(),
  }),
  askers: ['cli', 'server', 'reporter', 'member-mail'],
});

export const MemberChanged = defineMessage({
  type: 'member-data.changed',
  topic: 'dctrl/v1/member-data/changed',
  kind: 'event',
  sealed: { to: ['business-mgr', 'reporter', 'chain-notifier', 'member-mail', 'server'] },
  issuers: ['member-data'],
  description:
    'A member fact was recorded; carries its event id (for member-data.events), the event type and the member as they are now.',
  payload: z.strictObject({ eventId: z.string().length(26), event: z.string().max(32), member: memberFacts }),
});

const cents = z.int().min(-1_000_000_000).max(1_000_000_000);
const positiveCents = z.int().positive().max(1_000_000_000);
const note = z.string().max(500);
/** The exchange rate a bitcoin amount was converted at: cents per whole bitcoin, where it came from and when. */
const rate = z.strictObject({ centsPerBtc: z.int().positive(), source: z.string().min(1).max(64), at: epochMs });
const month = z.string().max(16);

const ledgerEntry = z.strictObject({
  id: z.string(),
  at: epochMs,
  month,
  kind: z.enum(['dues', 'payment', 'purchase', 'donation', 'adjustment', 'payout']),
  memberId: memberId.nullable(),
  cents,
  currency: z.string().length(3),
  method: z.enum(['cash', 'bitcoin', 'balance']).nullable(),
  sats: z.int().nullable(),
  rate: rate.nullable(),
  causedBy: z.string().max(128),
  dueAt: epochMs.nullable(),
  detail: z.record(z.string(), z.unknown()),
  recordedBy: z.string().max(64),
});

/** What caused a money movement: a request id, a receipt number, a txid:vout; once per kind. */
const cause = z.string().min(1).max(128);
/** A bitcoin amount carries its sats and the rate it was converted at (the Reporter checks they agree). */
const inBitcoin = { sats: z.int().positive().optional(), rate: rate.optional() };

export const LedgerRecord = defineMessage({
  type: 'reporter.ledger.record',
  topic: 'dctrl/v1/reporter/rpc/record',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Record a money movement (payment received, purchase, donation, adjustment, payout) in integer cents; once per (kind, causedBy), so a retry records nothing twice. Each client may record only the kinds reporter.ledgerWriters gives it.',
  payload: z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('payment'),
      memberId,
      cents: positiveCents,
      method: z.enum(['cash', 'bitcoin']),
      ...inBitcoin,
      causedBy: cause.optional(),
      note: note.optional(),
    }),
    z.strictObject({
      kind: z.literal('donation'),
      cents: positiveCents,
      method: z.enum(['cash', 'bitcoin']),
      ...inBitcoin,
      causedBy: cause.optional(),
      note: note.optional(),
    }),
    z.strictObject({
      kind: z.literal('purchase'),
      memberId: memberId.optional(),
      cents: positiveCents,
      method: z.enum(['balance', 'bitcoin']),
      product: z.string().max(64),
      ...inBitcoin,
      causedBy: cause.optional(),
    }),
    z.strictObject({
      kind: z.literal('adjustment'),
      memberId,
      cents: cents.refine((value) => value !== 0, 'an adjustment of zero changes nothing'),
      note: z.string().min(1).max(500),
      causedBy: cause.optional(),
    }),
    z.strictObject({
      kind: z.literal('payout'),
      cents: positiveCents,
      ...inBitcoin,
      causedBy: cause,
      note: note.optional(),
    }),
  ]),
  reply: z.strictObject({ entry: ledgerEntry, balanceCents: z.int().nullable(), duplicate: z.boolean() }),
  askers: ['cli', 'server', 'business-mgr', 'chain-notifier', 'payout-mgr'],
});

export const ReportRequest = defineMessage({
  type: 'reporter.report',
  topic: 'dctrl/v1/reporter/rpc/report',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'A report as JSON or CSV: income for a month by source and method, members with status, balance and end of grace, balances, one member statement, or ledger entries after a cursor in the order recorded, all or one member’s; long ones in pages.',
  payload: z.strictObject({
    report: z.enum(['income', 'members', 'balances', 'statement', 'ledger']),
    month: month.optional(),
    memberId: memberId.optional(),
    includeLeft: z.boolean().optional(),
    format: z.enum(['json', 'csv']).optional(),
    /**
     * Long reports come a page at a time: pass the previous reply's `next` to get the following page. The ledger
     * also takes any entry id, such as the last one a reader handled, and answers with the entries after it.
     */
    after: z.string().max(40).optional(),
    limit: z.int().positive().max(200).optional(),
  }),
  reply: z.strictObject({ json: z.unknown().optional(), csv: z.string().optional(), next: z.string().nullable() }),
  askers: ['cli', 'server', 'business-mgr', 'member-mail'],
});

export const ReporterRun = defineMessage({
  type: 'reporter.run',
  topic: 'dctrl/v1/reporter/rpc/run',
  kind: 'request',
  issuers: 'any',
  description:
    'Run the Reporter job now (catch up on member facts, charge dues not yet charged, apply grace deadlines), or rebuild its state from the events alone. Only reporter.operators may.',
  payload: z.strictObject({ action: z.enum(['dues', 'rebuild']) }),
  reply: z.record(z.string(), z.unknown()),
  askers: ['cli', 'server'],
});

export const MemberStatusChanged = defineMessage({
  type: 'reporter.status-changed',
  topic: 'dctrl/v1/reporter/member-status',
  kind: 'event',
  sealed: { to: ['business-mgr', 'member-mail', 'server'] },
  issuers: ['reporter'],
  description:
    'A member became active or inactive (dues overdue past grace, paid up, left, rejoined, exempt); for access caches.',
  payload: z.strictObject({
    memberId,
    active: z.boolean(),
    reason: z.enum(['member', 'exempt', 'dues-overdue', 'left']),
    balanceCents: z.int(),
    groups: z.array(z.string()),
  }),
});

export const BalanceChanged = defineMessage({
  type: 'reporter.balance-changed',
  topic: 'dctrl/v1/reporter/balance',
  kind: 'event',
  sealed: { to: ['business-mgr', 'member-mail', 'server'] },
  issuers: ['reporter'],
  description: 'A ledger entry changed a member balance; carries the entry and the balance after it.',
  payload: z.strictObject({ memberId, balanceCents: z.int(), entry: ledgerEntry }),
});

export const coreMessages: readonly MessageSpec[] = [
  KeyDirectory,
  Revocations,
  DirectoryGet,
  TokenRenew,
  SecretGet,
  RpcReply,
  RpcPrivateReply,
  AuditRejected,
  AuditDenied,
  ServiceStatus,
  Ping,
  LogCheckpoint,
  LogAlarm,
  LogDropped,
  ReplayRequest,
  Replayed,
  SettingSet,
  SettingsGet,
  SettingHistory,
  SettingChanged,
  MemberCommand,
  MemberQuery,
  MemberImport,
  MemberEvents,
  MemberChanged,
  LedgerRecord,
  ReportRequest,
  ReporterRun,
  MemberStatusChanged,
  BalanceChanged,
] as MessageSpec[];

export function createRegistry(extra: readonly MessageSpec[] = []): MessageRegistry {
  return new MessageRegistry([
    ...coreMessages,
    ...chainMessages,
    ...priceMessages,
    ...machineMessages,
    ...mailMessages,
    ...payoutMessages,
    ...extra,
  ]);
}
