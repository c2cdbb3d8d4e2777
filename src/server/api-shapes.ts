// The shapes of the REST API in zod: query values the route parts share, and the reply bodies they declare, which
// Fastify serialises with and the OpenAPI document shows.
import { z } from 'zod';
import { invoiceStates } from '../core/messages-chain.js';
import { decisionReasons } from '../core/messages-machine.js';

// ---- query values ---------------------------------------------------------------------------------------------

export const memberIdValue = z.string().regex(/^[0-9A-Z]{1,40}$/, 'a member id (letters and digits)');
export const monthValue = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month as YYYY-MM');
export const formatValue = z.enum(['json', 'csv']).optional();
/** A ULID as the services make them: ledger entries, decisions, invoices, bus messages. */
export const ulidValue = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'an id of 26 letters and digits (a ULID)');
export const deviceValue = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a device id (lowercase letters, digits and "-")');
export const limitValue = (max: number) => z.int().min(1).max(max).optional();

// ---- replies --------------------------------------------------------------------------------------------------

const epochMs = z.int().nonnegative();
const ledgerKind = z.enum(['dues', 'payment', 'purchase', 'donation', 'adjustment', 'payout']);

export const memberLine = z.object({
  memberId: z.string(),
  name: z.string(),
  email: z.string(),
  tier: z.string(),
  status: z.enum(['active', 'inactive', 'left']),
  reason: z.string(),
  exempt: z.boolean(),
  balanceCents: z.int(),
  graceEndsAt: epochMs.nullable(),
  groups: z.array(z.string()),
});

export const membersReply = z.object({
  asOf: z.int(),
  counts: z.object({ active: z.int(), inactive: z.int(), left: z.int() }),
  members: z.array(memberLine),
  next: z.string().nullable(),
});

export const ledgerEntry = z.object({
  id: z.string(),
  at: epochMs,
  month: z.string(),
  kind: ledgerKind,
  memberId: z.string().nullable(),
  cents: z.int(),
  currency: z.string(),
  method: z.enum(['cash', 'bitcoin', 'balance']).nullable(),
  sats: z.int().nullable(),
  rate: z.object({ centsPerBtc: z.int(), source: z.string(), at: epochMs }).nullable(),
  causedBy: z.string(),
  dueAt: epochMs.nullable(),
  detail: z.record(z.string(), z.unknown()),
  recordedBy: z.string(),
});

export const statementReply = z.object({
  member: memberLine,
  month: z.string().nullable(),
  openingCents: z.int(),
  closingCents: z.int(),
  entries: z.array(ledgerEntry.extend({ balanceCents: z.int() })),
  next: z.string().nullable(),
});

export const ledgerReply = z.object({ entries: z.array(ledgerEntry), next: z.string().nullable() });

export const incomeReply = z.object({
  month: z.string(),
  lines: z.array(
    z.object({
      section: z.enum(['earned', 'received', 'adjusted', 'paid-out']),
      source: z.string(),
      method: z.string(),
      currency: z.string(),
      entries: z.int(),
      cents: z.int(),
      sats: z.int(),
    }),
  ),
  totals: z.object({
    earnedCents: z.int(),
    receivedCents: z.int(),
    receivedCashCents: z.int(),
    receivedBitcoinCents: z.int(),
    receivedSats: z.int(),
  }),
});

export const balancesReply = z.object({
  asOf: z.int(),
  totals: z.object({ owedToSpaceCents: z.int(), creditHeldCents: z.int() }),
  balances: z.array(memberLine.pick({ memberId: true, name: true, status: true, balanceCents: true, graceEndsAt: true })),
  next: z.string().nullable(),
});

export const incomeByMonthReply = z.object({
  currency: z.string(),
  months: z.array(z.object({ month: z.string(), receivedCents: z.int(), earnedCents: z.int() })),
});

export const invoiceSummary = z.object({
  id: z.string(),
  state: z.enum(invoiceStates),
  cents: z.int(),
  currency: z.string(),
  sats: z.int(),
  rate: z.object({ centsPerBtc: z.int(), source: z.string(), at: epochMs }),
  address: z.string(),
  uri: z.string(),
  memberId: z.string().nullable(),
  product: z.string().nullable(),
  memo: z.string().nullable(),
  createdAt: epochMs,
  expiresAt: epochMs,
  watchUntil: epochMs,
  settledAt: epochMs.nullable(),
  paidSats: z.int(),
  settledSats: z.int().nullable(),
  flags: z.object({ partial: z.boolean(), over: z.boolean(), late: z.boolean() }),
});

export const invoicesReply = z.object({ invoices: z.array(invoiceSummary) });
/** One invoice with its BIP21 URI as a QR code: an SVG document to put in a page. */
export const invoiceReply = invoiceSummary.extend({ qrSvg: z.string() });

export const deviceLine = z.object({
  device: z.string(),
  kind: z.enum(['door', 'vending']),
  /** Its last heartbeat is by the device itself and has not expired. */
  online: z.boolean(),
  lastSeenAt: epochMs.nullable(),
  lastActuationAt: epochMs.nullable(),
  lastActuation: z
    .object({ at: epochMs, action: z.enum(['open', 'vend']), output: z.string(), outcome: z.enum(['actuated', 'failed']) })
    .nullable(),
  /** What the last heartbeat said; null before one was heard. */
  detail: z
    .object({
      mode: z.enum(['online', 'offline']),
      queuedVends: z.int(),
      offlineLogPending: z.int(),
      allowListVersion: z.int().nullable(),
      allowListExpiresAt: epochMs.nullable(),
    })
    .nullable(),
});

export const devicesReply = z.object({ devices: z.array(deviceLine) });

export const decisionLine = z.object({
  decisionId: z.string(),
  at: epochMs,
  device: z.string(),
  kind: z.enum(['door', 'vend']),
  via: z.enum(['fob', 'bitcoin', 'offline']),
  allowed: z.boolean(),
  reason: z.enum(decisionReasons),
  tapId: z.string().nullable(),
  invoiceId: z.string().nullable(),
  memberId: z.string().nullable(),
  memberName: z.string().nullable(),
  fobLastDigits: z.string().nullable(),
  product: z.string().nullable(),
  count: z.int(),
  cents: z.int().nullable(),
  outcome: z.enum(['actuated', 'failed']).nullable(),
});

export const decisionsReply = z.object({ decisions: z.array(decisionLine), next: z.string().nullable() });

export const eventLine = z.object({
  id: z.string(),
  at: epochMs,
  receivedAt: epochMs,
  type: z.string(),
  topic: z.string(),
  issuer: z.string(),
  // Null sits on one branch: OpenAPI 3.0 lets `nullable` widen only a schema that names its type.
  summary: z.record(z.string(), z.union([z.string().nullable(), z.number(), z.boolean()])),
});

export const eventsReply = z.object({
  events: z.array(eventLine),
  /** Pass as `after` for the events that follow; null when these reach the newest. */
  next: z.string().nullable(),
  /** The `after` event has left the buffer: events between it and the first one here were not kept. */
  gap: z.boolean(),
});

// ---- response schemas -----------------------------------------------------------------------------------------

/**
 * A reply shape as an OpenAPI 3.0 schema object (nullable instead of a "null" type, which 3.0 does not have),
 * which Fastify's serialiser reads too.
 */
export function replySchema(schema: z.ZodType): Record<string, unknown> {
  return allowNullInEnums(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'output' })) as Record<string, unknown>;
}

/** OpenAPI 3.0.3: `nullable` does not widen an `enum`, so a nullable enum must list null itself; bounds as both read them. */
function allowNullInEnums(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowNullInEnums);
  if (typeof node !== 'object' || node === null) return node;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) copy[key] = allowNullInEnums(value);
  const values = copy.enum;
  if (copy.nullable === true && Array.isArray(values) && !values.includes(null)) copy.enum = [...(values as unknown[]), null];
  // OpenAPI 3.0 writes "above 0" as a boolean exclusiveMinimum, which Fastify's draft-7 serialiser refuses: for an
  // integer it is the same as a minimum one higher; for a number, the bound is kept inclusive.
  if (copy.exclusiveMinimum === true && typeof copy.minimum === 'number') {
    delete copy.exclusiveMinimum;
    if (copy.type === 'integer') copy.minimum += 1;
  }
  if (copy.exclusiveMaximum === true && typeof copy.maximum === 'number') {
    delete copy.exclusiveMaximum;
    if (copy.type === 'integer') copy.maximum -= 1;
  }
  return copy;
}

/** The 200 reply of a route as JSON, and as CSV too when it has a `format=csv` form, whose next page `x-next` may name. */
export function okReply(
  description: string,
  json: z.ZodType,
  options: { csv?: boolean; nextHeader?: boolean } = {},
): { 200: Record<string, unknown> } {
  return {
    200: {
      description,
      ...(options.nextHeader
        ? {
            headers: {
              'x-next': {
                description: 'With format=csv: the `after` of the following page, when there is one.',
                schema: { type: 'string' },
              },
            },
          }
        : {}),
      content: {
        'application/json': { schema: replySchema(json) },
        ...(options.csv ? { 'text/csv': { schema: { type: 'string' } } } : {}),
      },
    },
  };
}
