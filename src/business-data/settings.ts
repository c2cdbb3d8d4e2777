// What BusinessData holds: dues tiers, products and policies, each value checked by its own schema.
import { z } from 'zod';
import { clientNameSchema } from '../core/envelope.js';

export const SETTING_KINDS = ['tier', 'product', 'policy'] as const;
export type SettingKind = (typeof SETTING_KINDS)[number];

const cents = z.int().nonnegative();
const keySchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'a key is lowercase letters, digits and "-", starting with a letter');
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day is HH:MM, 00:00 to 23:59');

export const tierSchema = z.strictObject({
  name: z.string().min(1).max(80),
  monthlyDuesCents: cents,
  active: z.boolean().default(true),
});

export const productSchema = z.strictObject({
  name: z.string().min(1).max(80),
  priceCents: cents,
  /** The vending machine (its client name) and the output on it that drops this product. */
  machine: clientNameSchema,
  output: z.string().min(1).max(64),
  active: z.boolean().default(true),
});

const timezone = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, 'not an IANA time zone (e.g. America/Vancouver)');

/** Every policy, its schema and its default; defaults are the lessons of the systems this replaces. */
export const POLICIES = {
  spaceName: { schema: z.string().min(1).max(80), default: 'dctrl' },
  currency: { schema: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as CAD'), default: 'CAD' },
  timezone: { schema: timezone, default: 'America/Vancouver' },
  graceDays: { schema: z.int().min(0).max(365), default: 10 },
  /** Per group, when its members may open the door; keyholder groups may enter at all hours. */
  doorHours: {
    schema: z.record(
      keySchema,
      z.array(z.strictObject({ days: z.array(z.int().min(0).max(6)).min(1), from: clock, to: clock })).max(14),
    ),
    default: { members: [{ days: [0, 1, 2, 3, 4, 5, 6], from: '08:00', to: '23:00' }] },
  },
  keyholderGroups: { schema: z.array(keySchema).max(32), default: ['keyholders'] },
  /** How far below zero a balance may go through fob purchases, in cents (0: never below zero). */
  creditLimitCents: { schema: cents, default: 0 },
  /** Confirmations a bitcoin payment needs, by amount: the first row whose upToSats covers it (null: any). */
  confirmationsByAmount: {
    schema: z
      .array(z.strictObject({ upToSats: z.int().positive().nullable(), confirmations: z.int().min(0).max(100) }))
      .min(1)
      .refine((rows) => rows.at(-1)?.upToSats === null, 'the last row must have upToSats null, to cover every amount'),
    default: [
      { upToSats: 100_000, confirmations: 0 },
      { upToSats: 5_000_000, confirmations: 1 },
      { upToSats: null, confirmations: 3 },
    ],
  },
  /** An exchange rate older than this is not used to price anything. */
  priceMaxAgeSeconds: { schema: z.int().min(10).max(86_400), default: 600 },
} as const;

export type PolicyName = keyof typeof POLICIES;
export const POLICY_NAMES = Object.keys(POLICIES) as PolicyName[];

export type Tier = z.infer<typeof tierSchema>;
export type Product = z.infer<typeof productSchema>;
export type Policies = { [K in PolicyName]: z.infer<(typeof POLICIES)[K]['schema']> };

/** The default dues tier: one tier, 75 CAD a month, charged on the 1st. */
export const DEFAULT_TIER: { key: string; value: Tier } = {
  key: 'member',
  value: { name: 'Member', monthlyDuesCents: 7_500, active: true },
};

export { keySchema };
