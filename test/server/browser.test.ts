// The dashboard in real headless Chromium against the Server on a real bus: a wrong password is refused on the page,
// an operator sees the member list with status, watches a door tap arrive live and opens a member's statement; a
// member sees their own membership, also on a phone-sized screen, and is refused someone else's page and statement.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { MachineTap } from '../../src/core/messages-machine.js';
import { LedgerRecord, MemberCommand } from '../../src/core/messages.js';
import { formatCents } from '../../src/core/money.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/harness.js';
import { passwordOf, startServerHub, type ServerHub } from './hub.js';

// The Reporter books by month in the space's zone (BusinessData's default policy); the browser asks for its own
// current month, so it must be in the same zone or a run near midnight at a month's end would ask for the wrong one.
const SPACE_ZONE = 'America/Vancouver';
const WAIT_MS = 10_000;
const PHONE_WIDTH = 360;

interface MemberLine {
  memberId: string;
  name: string;
  status: string;
  balanceCents: number;
}

/** Polls `read` until `done` accepts its value; the last value in the error otherwise. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('server: the dashboard in a real browser', { skip: browserSkip }, () => {
  let hub: ServerHub;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const ids: Record<'ada' | 'grace' | 'linus', string> = { ada: '', grace: '', linus: '' };
  let adaBalanceCents = 0;
  let lines: MemberLine[] = [];

  async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
    const context = await browser.newContext({ timezoneId: SPACE_ZONE, locale: 'en-US', ...options });
    context.setDefaultTimeout(WAIT_MS);
    contexts.push(context);
    return context.newPage();
  }

  async function logIn(page: Page, name: string, password = passwordOf(name)): Promise<void> {
    await page.goto(`${hub.base}/`);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
  }

  before(async () => {
    const publicDir = join(tempDir('dctrl-ui-'), 'public');
    const built = spawnSync(process.execPath, ['scripts/build-ui.mjs', publicDir], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    hub = await startServerHub({
      config: {
        server: { port: 0, publicDir },
        machines: { devices: { 'front-door': { kind: 'door' } } },
      },
    });
    ids.ada = await hub.join('Ada Lovelace', 'ada@example.org');
    ids.grace = await hub.join('Grace Hopper', 'grace@example.org');
    ids.linus = await hub.join('Linus Torvalds', 'linus@example.org');
    const payment = (await hub.cli.request(LedgerRecord, {
      kind: 'payment',
      memberId: ids.ada,
      cents: 2_500,
      method: 'cash',
      causedBy: 'receipt-browser-1',
    })) as { balanceCents: number };
    adaBalanceCents = payment.balanceCents;
    await hub.cli.request(MemberCommand, { action: 'leave', memberId: ids.linus });
    await hub.user('root', 'admin');
    await hub.user('ada', 'member', ids.ada);
    // The member list is the Reporter's; it hears of members joining and leaving over the bus, so wait until it has
    // all three as they are now.
    const staff = await hub.login('root');
    const all = async () =>
      ((await (await hub.call('/api/v1/members?includeLeft=true', { cookie: staff })).json()) as { members: MemberLine[] })
        .members;
    lines = await until(
      all,
      (members) =>
        members.length === 3 &&
        members.find((line) => line.memberId === ids.ada)?.balanceCents === adaBalanceCents &&
        members.find((line) => line.memberId === ids.linus)?.status === 'left',
      'the Reporter to list the three members',
    );
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await hub?.stop();
  });

  test('a wrong password is refused on the page, and the form stays', async () => {
    await hub.user('mallory', 'admin');
    const page = await newPage();
    await logIn(page, 'mallory', 'not-the-password-at-all');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal((await alert.textContent())?.trim(), 'Wrong name or password.');
    assert.equal(await page.inputValue('input[name=password]'), '', 'the password field is cleared');
    assert.equal(await page.locator('[data-testid=who]').count(), 0, 'not logged in');
  });

  describe('an operator', () => {
    let page: Page;

    before(async () => {
      page = await newPage();
      await logIn(page, 'root');
      await page.locator('[data-testid=who]').getByText('root (admin)').waitFor();
    });

    test('sees the member list with each member’s status, and those who left when asked', async () => {
      await page.getByRole('link', { name: 'Members', exact: true }).click();
      await page.waitForURL(`${hub.base}/members`);
      const counts = page.getByTestId('member-counts');
      await counts.waitFor();
      const count = (status: string) => lines.filter((line) => line.status === status).length;
      assert.equal(count('left'), 1);
      assert.match(
        (await counts.textContent()) ?? '',
        new RegExp(`${count('active')} active\\s*${count('inactive')} inactive\\s*1 left`),
      );
      const rows = page.locator('table.members tbody tr');
      const row = (name: string) => rows.filter({ has: page.getByRole('link', { name, exact: true }) });
      await row('Ada Lovelace').waitFor();
      assert.equal(await rows.count(), 2, 'who left is not listed at first');
      assert.equal(await row('Linus Torvalds').count(), 0);

      await page.getByLabel('Show members who left').check();
      await row('Linus Torvalds').waitFor();
      assert.equal(await rows.count(), 3);
      const statusWords: Record<string, string> = { active: 'Active', inactive: 'Inactive', left: 'Left' };
      for (const line of lines) {
        const cells = row(line.name).locator('td');
        assert.equal((await cells.nth(1).locator('.badge').first().textContent())?.trim(), statusWords[line.status], line.name);
        assert.equal((await cells.nth(2).textContent())?.trim(), formatCents(line.balanceCents), line.name);
      }
      assert.equal(lines.find((line) => line.memberId === ids.linus)?.status, 'left');
      assert.equal(lines.find((line) => line.memberId === ids.ada)?.status, 'active');
    });

    test('watches a door tap arrive on the live view', async () => {
      await page.getByRole('link', { name: 'Live', exact: true }).click();
      await page.waitForURL(`${hub.base}/live`);
      // Subscribed before the tap is published, so the tap comes over the open stream rather than the replay.
      await page.getByTestId('live-state').getByText('live', { exact: true }).waitFor();
      assert.equal(await page.locator('[data-testid=live-events] li[data-type="machine.tap"]').count(), 0);
      const door = await hub.h.client('front-door');
      await door.publish(MachineTap, {
        device: 'front-door',
        fob: { hash: 'e'.repeat(64), lastDigits: '777' },
        at: hub.h.clock.now(),
        reader: 'simulated',
      });
      const tap = page.locator('[data-testid=live-events] li[data-type="machine.tap"]');
      await tap.first().waitFor();
      const text = (await tap.first().textContent()) ?? '';
      assert.match(text, /machine\.tap/);
      assert.match(text, /from front-door/);
      assert.ok(!text.includes('e'.repeat(64)), 'no fob hash on the page');
    });

    test('opens a member’s statement from the list and sees the payment and the balance', async () => {
      await page.getByRole('link', { name: 'Members', exact: true }).click();
      await page.getByRole('link', { name: 'Ada Lovelace', exact: true }).click();
      await page.waitForURL(`${hub.base}/members/${ids.ada}`);
      const status = page.getByTestId('member-status');
      await status.waitFor();
      assert.match((await status.textContent()) ?? '', /Is Ada Lovelace a member\?/);
      assert.match(
        (await status.locator('.balance').textContent()) ?? '',
        new RegExp(`Balance\\s*${formatCents(adaBalanceCents)}$`),
      );
      const payment = page.locator('section.statement tbody tr', { hasText: 'Payment in cash' });
      await payment.waitFor();
      const cells = payment.locator('td');
      assert.equal((await cells.nth(2).textContent())?.trim(), '+25.00 CAD');
      assert.equal((await cells.nth(3).textContent())?.trim(), formatCents(adaBalanceCents));
      assert.match(
        (await page.locator('section.statement').textContent()) ?? '',
        new RegExp(`Closing balance\\s*${formatCents(adaBalanceCents)}`),
      );
    });
  });

  describe('a member', () => {
    let page: Page;

    before(async () => {
      page = await newPage();
      await logIn(page, 'ada');
      await page.locator('[data-testid=who]').getByText('ada (member)').waitFor();
    });

    test('sees on their own page whether they are a member', async () => {
      const status = page.getByTestId('member-status');
      await status.waitFor();
      assert.equal((await status.locator('.question').textContent())?.trim(), 'Am I a member?');
      const mine = lines.find((line) => line.memberId === ids.ada)!;
      const answers: Record<string, string> = { active: 'Yes', inactive: 'Not right now', left: 'No' };
      assert.equal((await status.locator('.answer').textContent())?.trim(), answers[mine.status]);
      await page.locator('section.statement tbody tr', { hasText: 'Payment in cash' }).waitFor();
      await page.getByTestId('deposit-address').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Members', exact: true }).count(), 0, 'no staff navigation');
    });

    test('is refused another member’s page, and the API refuses that member’s statement', async () => {
      await page.goto(`${hub.base}/members/${ids.grace}`);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /^Not allowed \(403\): /);
      assert.equal(await page.getByTestId('member-status').count(), 0);
      assert.ok(!(await page.content()).includes('Grace Hopper'), 'nothing of the other member is shown');
      const statement = await page.request.get(`${hub.base}/api/v1/members/${ids.grace}/statement`);
      assert.equal(statement.status(), 403);
      const own = await page.request.get(`${hub.base}/api/v1/members/${ids.ada}/statement`);
      assert.equal(own.status(), 200, 'the same session may read its own statement');
    });

    test('reads their page on a phone-sized screen without scrolling sideways', async () => {
      const phone = await newPage({
        viewport: { width: PHONE_WIDTH, height: 740 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      });
      await logIn(phone, 'ada');
      await phone.getByTestId('member-status').waitFor();
      await phone.locator('section.statement tbody tr', { hasText: 'Payment in cash' }).waitFor();
      await phone.getByTestId('deposit-address').waitFor();
      // A string, since the tests are typed without the DOM's names: it runs in the page.
      const { scrollWidth, innerWidth } = await phone.evaluate<{ scrollWidth: number; innerWidth: number }>(
        '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
      );
      // Chromium's mobile emulation widens the layout viewport to fit content that overflows, so the width is
      // also held against the screen's own.
      assert.ok(
        scrollWidth <= innerWidth && innerWidth === PHONE_WIDTH,
        `the page is ${scrollWidth}px wide (viewport ${innerWidth}px) on a ${PHONE_WIDTH}px screen`,
      );
    });
  });
});
