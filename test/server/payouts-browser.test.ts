// The dashboard's Payouts view in real headless Chromium against the Server and PayoutMgr on a real bus: a treasurer
// sees a requested payout and approves it, and the page shows the approval; a member asks to be reimbursed and sees
// the request listed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { endorseProof, enrollPayload } from '../../src/cli/approver-key.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import {
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyList,
  PayoutGet,
  PayoutRequest,
  type ApproverKey,
  type PayoutRecord,
} from '../../src/core/messages-payout.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/harness.js';
import { approverKeyOf, enrollApprovers, strangerKey } from '../payout-mgr/approvers.js';
import { payee, testWalletDescriptorText } from '../payout-mgr/keys.js';
import { passwordOf, startServerHub, type ServerHub } from './hub.js';

const WAIT_MS = 10_000;

describe('server: the Payouts view in a real browser', { skip: browserSkip }, () => {
  let hub: ServerHub;
  let browser: Browser;
  let origin: string;
  let asked: PayoutRecord;
  /** Tess's page, with the authenticator that holds her passkey. */
  let tessPage: Page;

  /** The page served under a strict Content-Security-Policy (no inline script), as the hardened Server sends. */
  async function underStrictCsp(context: BrowserContext): Promise<void> {
    await context.route(`${origin}/**`, async (route) => {
      // The live view's stream may still be open when the browser closes: nothing is left to answer then.
      const response = await route.fetch().catch(() => undefined);
      if (!response) return;
      const headers = {
        ...response.headers(),
        'content-security-policy':
          "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
      };
      await route.fulfill({ response, headers }).catch(() => undefined);
    });
  }

  /** A platform authenticator with user verification, as a laptop's fingerprint reader is, for this page. */
  async function withAuthenticator(context: BrowserContext, page: Page): Promise<void> {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });
  }

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
    // Passkeys belong to a host name (payoutMgr.passkeyRpId, localhost here), never to an IP address.
    origin = hub.base.replace('127.0.0.1', 'localhost');
    const { address } = payee(3000);
    asked = (await hub.cli.request(PayoutRequest, {
      address,
      sats: 42_000,
      reason: 'soldering iron tips',
      requester: 'ada',
    })) as PayoutRecord;
    browser = await launchChromium();
  });

  after(async () => {
    await tessPage?.context().unrouteAll({ behavior: 'ignoreErrors' });
    await browser?.close();
    await hub?.stop();
  });

  test('a treasurer enrolls a passkey, sees a requested payout, approves it with the passkey, and the page shows it', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    await underStrictCsp(context);
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    await withAuthenticator(context, page);
    const served = await page.goto(`${origin}/`);
    assert.match((await served?.allHeaders())?.['content-security-policy'] ?? '', /script-src 'self'/);
    await page.fill('input[name=name]', 'tess');
    await page.fill('input[name=password]', passwordOf('tess'));
    await page.click('button[type=submit]');
    await page.getByRole('link', { name: 'Payouts', exact: true }).click();
    await page.waitForURL(`${origin}/payouts`);

    // The first approvers' keys count at once (bootstrap); the page says so.
    await page.getByRole('button', { name: 'Add a passkey', exact: true }).click();
    const passkey = page.getByTestId('approver-key').filter({ hasText: 'tess' });
    await passkey.waitFor();
    assert.equal((await passkey.getByTestId('approver-key-state').textContent())?.trim(), 'active');
    const { keys } = (await hub.cli.request(ApproverKeyList, { approver: 'tess' })) as { keys: ApproverKey[] };
    assert.deepEqual(
      keys.map((key) => [key.kind, key.state, key.bootstrap]),
      [['passkey', 'active', true]],
    );

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
    // PayoutMgr kept the passkey's assertion, which signed this payout's terms.
    const { payout: stored } = (await hub.cli.request(PayoutGet, { payoutId: asked.id })) as { payout: PayoutRecord };
    assert.equal(stored.approvals[0]?.keyId, keys[0]!.keyId);
    assert.deepEqual(blocked, [], 'nothing was refused by the Content-Security-Policy');
    tessPage = page;
  });

  test('a key the hub enrolls for her after bootstrap is pending; she endorses it with her passkey, and the quorum activates it', async () => {
    await enrollApprovers(hub.cli, ['root']);
    // A key file for tess enrolled from the hub's shell: with bootstrap over, it approves nothing on its own.
    const forged = strangerKey('tess');
    const pending = (await hub.cli.request(ApproverKeyEnroll, enrollPayload(forged))) as ApproverKey;
    assert.equal(pending.state, 'pending');
    const page = tessPage;
    await page.reload();
    const row = page.getByTestId('approver-key').filter({ hasText: forged.keyId });
    await row.waitFor();
    assert.equal((await row.getByTestId('approver-key-state').textContent())?.trim(), 'pending');
    await row.getByRole('button', { name: 'Endorse', exact: true }).click();
    await row.getByText('endorsed by tess').waitFor();
    assert.equal((await row.getByTestId('approver-key-state').textContent())?.trim(), 'pending', 'one of two endorsements');
    const endorsed = (await hub.cli.request(ApproverKeyEndorse, {
      keyId: pending.keyId,
      approver: 'root',
      proof: endorseProof(approverKeyOf('root'), pending, Date.now()),
    })) as ApproverKey;
    assert.equal(endorsed.state, 'active');
    assert.deepEqual(endorsed.endorsements.map((endorsement) => endorsement.approver).sort(), ['root', 'tess']);
  });

  test('a member asks for a reimbursement and sees it listed with its state', async () => {
    const memberId = await hub.join('Ada Lovelace', 'ada@example.org');
    await hub.user('ada', 'member', memberId);
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    await page.goto(`${origin}/`);
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
