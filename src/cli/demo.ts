// The demo space `npm start` creates on first run: a dozen members with six months of history (dues, cash and
// bitcoin payments, drinks, a donation), some of them behind, so the reports show something real from the start.
// It is written through the same classes the services use, with a clock that walks from six months ago to now.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { BusinessBook } from '../business-data/book.js';
import { POLICIES } from '../business-data/settings.js';
import { ManualClock, type Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { hashFob } from '../core/fob-hash.js';
import type { Logger } from '../core/logger.js';
import { openDatabase, type DatabaseHandle } from '../core/storage/index.js';
import { ServerStore } from '../server/index.js';
import { MemberRegister } from '../member-data/register.js';
import type { LedgerInput } from '../reporter/reporter.js';
import { Reporter } from '../reporter/reporter.js';
import { openVault, type SecretEnv } from './vault-access.js';

const DEMO = 'demo';
const HISTORY_MONTHS = 6;
/** A fixed rate for the demo's bitcoin payments: 135,000.00 CAD per bitcoin. */
const DEMO_RATE_CENTS_PER_BTC = 13_500_000;

/** The demo fobs: 0004231000 for the first member, 0004231001 for the second, … */
function demoFob(index: number): string {
  return `00042310${String(index).padStart(2, '0')}`;
}

interface DemoMember {
  name: string;
  tier?: string;
  groups?: string[];
  badges?: string[];
  exempt?: string;
  /** How they pay: every month, in bitcoin, stopping after some month, or three months ahead. */
  pays: 'monthly' | 'bitcoin' | 'prepays' | { stopsAfter: number };
  joinsIn?: number;
  leavesIn?: number;
  drinksPerMonth?: number;
}

const MEMBERS: DemoMember[] = [
  { name: 'Ada Lovelace', groups: ['keyholders'], badges: ['laser'], pays: 'monthly', drinksPerMonth: 3 },
  { name: 'Grace Hopper', groups: ['keyholders'], exempt: 'board', pays: 'monthly', drinksPerMonth: 2 },
  { name: 'Alan Turing', pays: 'bitcoin', drinksPerMonth: 1 },
  { name: 'Radia Perlman', tier: 'student', pays: 'monthly', badges: ['laser'] },
  { name: 'Ken Thompson', pays: { stopsAfter: 3 }, drinksPerMonth: 2 },
  { name: 'Margaret Hamilton', groups: ['keyholders'], pays: 'bitcoin' },
  { name: 'Linus Torvalds', pays: 'monthly', leavesIn: 3 },
  { name: 'Hedy Lamarr', tier: 'student', pays: { stopsAfter: 4 }, drinksPerMonth: 1 },
  { name: 'Dennis Ritchie', pays: 'monthly', badges: ['cnc'] },
  { name: 'Barbara Liskov', pays: 'prepays' },
  { name: 'Claude Shannon', pays: { stopsAfter: 4 }, drinksPerMonth: 4 },
  { name: 'Frances Allen', pays: 'monthly', joinsIn: 4 },
];

/** Where the demo's dashboard logins are written (owner-only), for the banner to point at. */
export function demoLoginsFile(config: Config): string {
  return join(config.dataDir, 'dashboard-logins.txt');
}

/**
 * Two operators (admin, and a treasurer: together the two approvals a demo payout needs) and a member (Ada) who can
 * log in to the dashboard, with passwords made here.
 */
async function createDemoLogins(database: DatabaseHandle, config: Config, adaId: string, at: number): Promise<void> {
  const store = await ServerStore.open(database);
  const logins = [
    { name: 'admin', role: 'admin' as const, memberId: null },
    { name: 'treasurer', role: 'treasurer' as const, memberId: null },
    { name: 'ada', role: 'member' as const, memberId: adaId },
  ].map((login) => ({ ...login, password: randomBytes(12).toString('base64url') }));
  for (const login of logins) await store.setUser(login, at);
  writeFileSync(
    demoLoginsFile(config),
    logins.map((login) => `${login.name} (${login.role}): ${login.password}`).join('\n') + '\n',
    { mode: 0o600 },
  );
}

/**
 * Creates the demo space if the database has no members yet; does nothing otherwise.
 * @returns a line for the banner, or undefined when the space already had members.
 */
export async function seedDemoSpace(
  config: Config,
  secretEnv: SecretEnv,
  logger: Logger,
  realClock: Clock,
): Promise<string | undefined> {
  const database = await openDatabase({ url: config.db.url, sqliteFile: join(config.dataDir, 'dctrl.db') });
  const keeper = openVault(config, secretEnv, realClock);
  try {
    const now = realClock.now();
    // A fresh space has BusinessData's defaults; the demo keeps them.
    const zone = POLICIES.timezone.default;
    const firstMonth = DateTime.fromMillis(now, { zone }).startOf('month').minus({ months: HISTORY_MONTHS });
    const clock = new ManualClock(firstMonth.plus({ days: 1, hours: 10 }).toMillis());
    const book = await BusinessBook.open(database, clock);
    const activeTiers = async () => Object.keys((await book.inForce(firstMonth.toISODate()!)).tiers);
    const register = await MemberRegister.open(database, clock, { activeTiers });
    if ((await register.list({ includeLeft: true })).length > 0) return undefined;
    const reporter = await Reporter.open(database, clock);
    const fobKey = keeper.secret('fob-hash-key');
    const space = { timezone: zone, currency: POLICIES.currency.default };
    const day = firstMonth.toISODate()!;

    await book.set(
      { kind: 'tier', key: 'student', value: { name: 'Student', monthlyDuesCents: 4_000 }, effectiveFrom: day },
      DEMO,
    );
    await book.set(
      {
        kind: 'product',
        key: 'club-mate',
        value: { name: 'Club-Mate', priceCents: 350, machine: 'vending', output: 'club-mate' },
        effectiveFrom: day,
      },
      DEMO,
    );

    const ids = new Map<DemoMember, string>();
    const mirror = async () => {
      for (;;) {
        const page = await register.events({ afterId: await reporter.lastFactId(), limit: 200 });
        await reporter.ingestFacts(page.events);
        if (!page.more) return;
      }
    };
    const join = async (member: DemoMember, index: number) => {
      const email = `${member.name.split(' ')[0]!.toLowerCase()}@example.org`;
      const { member: joined } = await register.join({ name: member.name, email, tier: member.tier ?? 'member' }, DEMO);
      ids.set(member, joined.memberId);
      await register.issueFob(joined.memberId, hashFob(demoFob(index), fobKey), DEMO);
      for (const group of member.groups ?? []) await register.addGroup(joined.memberId, group, DEMO);
      for (const badge of member.badges ?? []) await register.awardBadge(joined.memberId, badge, DEMO);
      if (member.exempt) await register.setExempt(joined.memberId, member.exempt, DEMO);
    };
    const record = async (input: LedgerInput, cause: string) => {
      await reporter.record(input, DEMO, `demo:${cause}`, space);
    };
    const at = (month: DateTime, days: number, hours: number) => month.plus({ days, hours }).toMillis();

    for (const [index, member] of MEMBERS.entries()) if ((member.joinsIn ?? 0) === 0) await join(member, index);
    for (let monthIndex = 1; monthIndex <= HISTORY_MONTHS; monthIndex++) {
      const month = firstMonth.plus({ months: monthIndex });
      const label = month.toFormat('yyyy-MM');
      clock.set(at(month, 0, 1));
      await mirror();
      await reporter.chargeDues(space, async (charged) => {
        const inForce = await book.inForce(`${charged}-01`);
        return { tiers: inForce.tiers, graceDays: inForce.policies.graceDays };
      });
      const { tiers } = await book.inForce(`${label}-01`);
      // The month's doings, in the order they happened; nothing after the real now.
      const doings: { at: number; run: () => Promise<unknown> }[] = [];
      for (const [index, member] of MEMBERS.entries()) {
        const memberId = ids.get(member);
        if (member.joinsIn === monthIndex) doings.push({ at: at(month, 20, 15), run: () => join(member, index) });
        if (!memberId || (member.leavesIn !== undefined && monthIndex > member.leavesIn)) continue;
        if (member.leavesIn === monthIndex) doings.push({ at: at(month, 20, 16), run: () => register.leave(memberId, DEMO) });
        // Dues (nothing when exempt, three months at once for the one who prepays) plus the month's drinks.
        const monthly = tiers[member.tier ?? 'member']?.monthlyDuesCents ?? 0;
        const dues = member.exempt ? 0 : monthly * (member.pays === 'prepays' ? 3 : 1);
        const cents = dues + (member.drinksPerMonth ?? 0) * 350;
        const paysNow =
          cents > 0 &&
          (typeof member.pays === 'string'
            ? member.pays !== 'prepays' || monthIndex % 3 === 1
            : monthIndex <= member.pays.stopsAfter);
        if (paysNow) {
          const cause = `pay:${memberId}:${label}`;
          doings.push({
            at: at(month, 2 + (index % 4), 12 + index),
            run: () =>
              member.pays === 'bitcoin'
                ? record(
                    {
                      kind: 'payment',
                      memberId,
                      cents,
                      method: 'bitcoin',
                      sats: Math.round((cents * 100_000_000) / DEMO_RATE_CENTS_PER_BTC),
                      rate: { centsPerBtc: DEMO_RATE_CENTS_PER_BTC, source: 'demo-fixed', at: clock.now() },
                    },
                    cause,
                  )
                : record({ kind: 'payment', memberId, cents, method: 'cash' }, cause),
          });
        }
        for (let drink = 0; drink < (member.drinksPerMonth ?? 0); drink++) {
          doings.push({
            at: at(month, 8 + drink * 5, 19) + index * 60_000,
            run: () =>
              record(
                { kind: 'purchase', memberId, cents: 350, method: 'balance', product: 'club-mate' },
                `vend:${memberId}:${label}:${drink}`,
              ),
          });
        }
      }
      if (monthIndex === 2) {
        doings.push({
          at: at(month, 20, 17),
          run: () => record({ kind: 'donation', cents: 5_000, method: 'cash', note: 'open house jar' }, 'open-house'),
        });
      }
      for (const doing of doings.sort((a, b) => a.at - b.at)) {
        if (doing.at > now) break;
        clock.set(doing.at);
        await doing.run();
      }
    }
    clock.set(Math.max(clock.now(), now));
    // Money for the vending machine, so a fob buys a drink in the demo.
    const barbara = ids.get(MEMBERS.find((member) => member.name === 'Barbara Liskov')!)!;
    await record({ kind: 'payment', memberId: barbara, cents: 2_000, method: 'cash', note: 'drink credit' }, 'drink-credit');
    await mirror();
    await reporter.advance();
    const members = await register.list();
    await createDemoLogins(database, config, members[0]!.memberId, now);
    logger.info({ members: members.length }, 'demo space created');
    return [
      `demo space: ${members.length} current members with ${HISTORY_MONTHS} months of dues, payments and drinks (try \`dctrl report members\`)`,
      `  fobs 00042310NN, NN the member's place in the list: \`dctrl sim tap front-door ${demoFob(0)}\` (Ada, a keyholder),`,
      `  \`dctrl sim tap front-door ${demoFob(4)}\` (Ken, behind on dues), \`dctrl sim tap vending ${demoFob(9)}\` (a Club-Mate on Barbara's drink credit)`,
    ].join('\n');
  } finally {
    keeper.close();
    await database.close();
  }
}
