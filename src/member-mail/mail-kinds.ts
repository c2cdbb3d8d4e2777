// What each kind of mail is told: the facts its templates may use, and two sample sets of them to check templates with.
import { DateTime } from 'luxon';
import type { MailKind } from '../core/messages-mail.js';

/** The space as BusinessData describes it today. */
export interface SpaceFacts {
  name: string;
  /** ISO 4217 code; every `money` amount is shown in it. */
  currency: string;
  /** IANA zone; every `date` and `datetime` is shown in it. */
  timezone: string;
}

export interface MemberFacts {
  id: string;
  name: string;
  email: string;
  tier: string;
  status: 'active' | 'inactive' | 'left';
  /** Negative when the member owes, positive when in credit. */
  balanceCents: number;
}

/** The member's own deposit address: BIP21 URI; the QR code PNG is attached inline, shown in HTML as `<img src="cid:{{deposit.qrCid}}">`. */
export interface Deposit {
  address: string;
  uri: string;
  qrCid: string;
}

/** What every mail is told. */
export interface MailBase {
  space: SpaceFacts;
  member: MemberFacts;
  /** When the mail was made (epoch ms). */
  madeAt: number;
}

export interface WelcomeContext extends MailBase {
  deposit: Deposit | null;
  dues: { tierName: string; monthlyCents: number } | null;
  /** A member who left and came back gets "welcome back". */
  rejoined: boolean;
}

export interface ReceiptContext extends MailBase {
  payment: {
    id: string;
    at: number;
    cents: number;
    method: 'cash' | 'bitcoin';
    /** Bitcoin payments only, as are the rate and the txid. */
    sats: number | null;
    centsPerBtc: number | null;
    txid: string | null;
    note: string | null;
  };
  balanceAfterCents: number;
}

export interface StatementEntry {
  at: number;
  kind: string;
  description: string;
  cents: number;
  /** The balance after this entry. */
  balanceCents: number;
}

export interface StatementContext extends MailBase {
  /** The month the statement covers, YYYY-MM. */
  period: { month: string };
  openingCents: number;
  closingCents: number;
  entries: StatementEntry[];
  /** Entries of the period left out of `entries` to keep the mail short. */
  moreEntries: number;
  deposit: Deposit | null;
}

export interface ReminderContext extends MailBase {
  graceEndsAt: number;
  /** The last moment to pay (graceEndsAt − 1 ms), so "pay by" names the last day, not the day after it. */
  lastDayToPay: number;
  owedCents: number;
  daysLeft: number;
  deposit: Deposit | null;
}

export interface DeactivationContext extends MailBase {
  graceEndsAt: number;
  lastDayToPay: number;
  owedCents: number;
  deposit: Deposit | null;
}

export interface PayoutContext extends MailBase {
  payout: { id: string; cents: number; sats: number; txid: string; address: string; reason: string };
}

/** The facts each kind of mail is rendered with. */
export interface MailContext {
  welcome: WelcomeContext;
  receipt: ReceiptContext;
  statement: StatementContext;
  reminder: ReminderContext;
  deactivation: DeactivationContext;
  payout: PayoutContext;
}

const ZONE = 'America/Vancouver';
const at = (iso: string): number => DateTime.fromISO(iso, { zone: ZONE }).toMillis();

const space = (): SpaceFacts => ({ name: 'DCTRL', currency: 'CAD', timezone: ZONE });

const member = (overrides: Partial<MemberFacts> = {}): MemberFacts => ({
  id: '01JBX7Q2M4S5T6V7W8X9Y0Z1A2',
  name: 'Ada Lovelace',
  email: 'ada@example.org',
  tier: 'member',
  status: 'active',
  balanceCents: 0,
  ...overrides,
});

const DEPOSIT_ADDRESS = 'bcrt1qf9y3sputrfa8pnr60wcjvwdltahs7rtmt4z6pg';
const deposit = (): Deposit => ({
  address: DEPOSIT_ADDRESS,
  uri: `bitcoin:${DEPOSIT_ADDRESS}?label=DCTRL%20dues%20Ada%20Lovelace`,
  qrCid: 'deposit-qr@dctrl',
});

/**
 * Two contexts per kind for the start-up check: the full one has every optional fact and non-empty lists, the
 * sparse one nulls and empty lists, so a template that uses a fact outside its `{{#if}}` fails with one of them.
 */
const SAMPLES: { [K in MailKind]: () => [MailContext[K], MailContext[K]] } = {
  welcome: () => [
    {
      space: space(),
      member: member(),
      madeAt: at('2026-10-03T18:30'),
      deposit: deposit(),
      dues: { tierName: 'Member', monthlyCents: 7_500 },
      rejoined: true,
    },
    { space: space(), member: member(), madeAt: at('2026-10-03T18:30'), deposit: null, dues: null, rejoined: false },
  ],
  receipt: () => [
    {
      space: space(),
      member: member({ balanceCents: 2_500 }),
      madeAt: at('2026-10-12T21:04'),
      payment: {
        id: '01JC2K8Y3N4P5Q6R7S8T9V0W1X',
        at: at('2026-10-12T20:58'),
        cents: 10_000,
        method: 'bitcoin',
        sats: 108_344,
        centsPerBtc: 9_229_842,
        txid: '6f1c2e9d8b7a65432f10e9d8c7b6a5948372615f4e3d2c1b0a9f8e7d6c5b4a39',
        note: 'October dues and a bit extra for the laser',
      },
      balanceAfterCents: 2_500,
    },
    {
      space: space(),
      member: member({ balanceCents: 0 }),
      madeAt: at('2026-10-05T19:10'),
      payment: {
        id: '01JC0A1B2C3D4E5F6G7H8J9K0M',
        at: at('2026-10-05T19:05'),
        cents: 7_500,
        method: 'cash',
        sats: null,
        centsPerBtc: null,
        txid: null,
        note: null,
      },
      balanceAfterCents: 0,
    },
  ],
  statement: () => [
    {
      space: space(),
      member: member({ balanceCents: -7_500 }),
      madeAt: at('2026-11-01T08:00'),
      period: { month: '2026-10' },
      openingCents: -7_500,
      closingCents: -7_500,
      entries: [
        { at: at('2026-10-01T00:00'), kind: 'dues', description: 'Dues for October 2026', cents: -7_500, balanceCents: -15_000 },
        { at: at('2026-10-12T20:58'), kind: 'payment', description: 'Bitcoin payment', cents: 10_000, balanceCents: -5_000 },
        { at: at('2026-10-21T23:47'), kind: 'purchase', description: '2 cans of Club-Mate', cents: -2_500, balanceCents: -7_500 },
      ],
      moreEntries: 4,
      deposit: deposit(),
    },
    {
      space: space(),
      member: member(),
      madeAt: at('2026-11-01T08:00'),
      period: { month: '2026-10' },
      openingCents: 0,
      closingCents: 0,
      entries: [],
      moreEntries: 0,
      deposit: null,
    },
  ],
  reminder: () => [
    {
      space: space(),
      member: member({ balanceCents: -7_500 }),
      madeAt: at('2026-11-06T09:00'),
      graceEndsAt: at('2026-11-11T00:00'),
      lastDayToPay: at('2026-11-11T00:00') - 1,
      owedCents: 7_500,
      daysLeft: 5,
      deposit: deposit(),
    },
    {
      space: space(),
      member: member({ balanceCents: -2_000, tier: 'student' }),
      madeAt: at('2026-11-10T09:00'),
      graceEndsAt: at('2026-11-11T00:00'),
      lastDayToPay: at('2026-11-11T00:00') - 1,
      owedCents: 2_000,
      daysLeft: 1,
      deposit: null,
    },
  ],
  deactivation: () => [
    {
      space: space(),
      member: member({ balanceCents: -7_500, status: 'inactive' }),
      madeAt: at('2026-11-11T00:05'),
      graceEndsAt: at('2026-11-11T00:00'),
      lastDayToPay: at('2026-11-11T00:00') - 1,
      owedCents: 7_500,
      deposit: deposit(),
    },
    {
      space: space(),
      member: member({ balanceCents: -15_000, status: 'inactive' }),
      madeAt: at('2026-11-11T00:05'),
      graceEndsAt: at('2026-11-11T00:00'),
      lastDayToPay: at('2026-11-11T00:00') - 1,
      owedCents: 15_000,
      deposit: null,
    },
  ],
  payout: () => [
    {
      space: space(),
      member: member(),
      madeAt: at('2026-10-20T16:40'),
      payout: {
        id: '01JC9P2Q3R4S5T6V7W8X9Y0Z1A',
        cents: 4_250,
        sats: 46_046,
        txid: 'a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192',
        address: 'bcrt1qgpkctejk6ekyat4fe8nu5u5revuc79v80nkeuj',
        reason: 'Refund: filament bought for the 3D printer',
      },
    },
    {
      space: space(),
      member: member({ status: 'left' }),
      madeAt: at('2026-10-20T16:40'),
      payout: {
        id: '01JC9P2Q3R4S5T6V7W8X9Y0Z1B',
        cents: 1,
        sats: 1,
        txid: 'b3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708193',
        address: 'bcrt1qgpkctejk6ekyat4fe8nu5u5revuc79v80nkeuj',
        reason: 'Credit returned',
      },
    },
  ],
};

/** Fresh sample contexts of a kind: [full, sparse]. Realistic, so a preview of an edited template reads like a real mail. */
export function sampleContexts<K extends MailKind>(kind: K): [MailContext[K], MailContext[K]] {
  return SAMPLES[kind]();
}
