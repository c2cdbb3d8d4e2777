// The dashboard's Payouts view in real headless Chromium against the Server and PayoutMgr on a real bus: a treasurer
// sees a requested payout and approves it, and the page shows the approval; a member asks to be reimbursed and sees
// the request listed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { PayoutRequest } from '../../src/core/messages-payout.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/harness.js';
import { payee, testWalletDescriptorText } from '../payout-mgr/keys.js';
import { passwordOf, startServerHub, type ServerHub } from './hub.js';

const WAIT_MS = 10_000;

describe('server: the Payouts view in a real browser', { skip: browserSkip }, () => {
  let hub: ServerHub;
  let browser: Browser;

  before(async () => {
    const publicDir = join(tempDir('dctrl-ui-'), 'public');
    const built = spawnSync(process.execPath, ['scripts/build-ui.mjs', publicDir], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    hub = await startServerHub({
      config: { server: { port: 0, publicDir } },
      payouts: {
        chain: new SimulatedChain('regtest'),
        config: {
          walletDescriptor: testWalletDescriptorText(),
          birthHeight: 0,
          approvers: ['tess', 'root'],
          approvalsRequired: 2,
          gapLimit: 5,
          pollMs: 3_600_000,
          fee: { fallbackSatPerVb: 2 },
        },
      },
    });
    await hub.user('tess', 'treasurer');
    const { address } = payee(3000);
    await hub.cli.request(PayoutRequest, { address, sats: 42_000, reason: 'soldering iron tips', requester: 'ada' });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  test('a treasurer sees a requested payout, approves it, and the page shows the approval', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    await page.goto(`${hub.base}/`);
    await page.fill('input[name=name]', 'tess');
    await page.fill('input[name=password]', passwordOf('tess'));
    await page.click('button[type=submit]');
    await page.getByRole('link', { name: 'Payouts', exact: true }).click();
    await page.waitForURL(`${hub.base}/payouts`);

    const payout = page.getByTestId('payout').filter({ hasText: 'soldering iron tips' });
    await payout.waitFor();
    assert.equal((await payout.getByTestId('payout-state').textContent())?.trim(), 'requested');
    assert.match((await payout.textContent()) ?? '', /42,000 sats/);
    assert.equal((await payout.getByTestId('approvals').textContent())?.trim(), '0 of 2 approvals');
    await page.getByTestId('payout-balance').waitFor();

    await payout.getByRole('button', { name: 'Approve', exact: true }).click();
    await payout.getByTestId('approvals').getByText('1 of 2 approvals (tess)').waitFor();
    assert.equal(await payout.getByRole('button', { name: 'You approved' }).isDisabled(), true);
    assert.equal((await payout.getByTestId('payout-state').textContent())?.trim(), 'requested', 'one of two approvals');
    await context.close();
  });

  test('a member asks for a reimbursement and sees it listed with its state', async () => {
    const memberId = await hub.join('Ada Lovelace', 'ada@example.org');
    await hub.user('ada', 'member', memberId);
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    await page.goto(`${hub.base}/`);
    await page.fill('input[name=name]', 'ada');
    await page.fill('input[name=password]', passwordOf('ada'));
    await page.click('button[type=submit]');
    await page.fill('input[name=address]', payee(3001).address);
    await page.fill('input[name=amount]', '12.50');
    await page.fill('input[name=reason]', 'filament for the club printer');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.getByTestId('reimbursement-asked').waitFor();
    const mine = page.getByTestId('my-payouts').getByText(/filament for the club printer: requested/);
    await mine.waitFor();
    assert.match((await mine.textContent()) ?? '', /0 of 2 approvals/);
    await context.close();
  });
});
