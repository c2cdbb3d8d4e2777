// Requests from other sites, over real HTTP and in real Chromium, against the Server with the real PayoutMgr: a
// cross-site POST carrying a treasurer's cookie (another Origin, Sec-Fetch-Site, or a text/plain or form body) is
// refused for login, a fresh wallet address and PSBT broadcast, and hands nothing out; the dashboard itself, and
// machines with a Bearer Vault API token, keep working; the dashboard runs under its CSP without a violation and cannot
// be framed by another page.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, ConsoleMessage } from 'playwright-core';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/harness.js';
import { testWallet, testWalletDescriptorText } from '../payout-mgr/keys.js';
import { callFrom, type PlainResponse } from './from-address.js';
import { passwordOf, startServerHub, type ServerHub } from './hub.js';

const WAIT_MS = 10_000;
const EVIL = 'http://evil.example';
const UNKNOWN_PSBT = '01JB0000000000000000000000';

describe('server: requests from other sites', () => {
  let hub: ServerHub;
  let cookie: string;
  let browser: Browser | undefined;
  const closers: (() => Promise<void>)[] = [];
  const wallet = testWallet();

  /** A POST from 127.0.0.1 with the treasurer's cookie and the given headers; the body is sent as given. */
  const post = (path: string, headers: Record<string, string>, body?: string): Promise<PlainResponse> =>
    callFrom('127.0.0.1', `${hub.base}${path}`, {
      method: 'POST',
      headers: { cookie, ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) },
      ...(body === undefined ? {} : { body }),
    });

  /** The receive index of an address the wallet handed out. */
  const receiveIndex = (address: string | null): number => {
    for (let index = 0; index < 50; index += 1) if (wallet.derive(0, index).address === address) return index;
    throw new Error(`${address} is not one of the wallet's first receive addresses`);
  };

  const freshAddress = async (headers: Record<string, string>): Promise<number> => {
    const response = await post('/api/v1/payout-wallet/address', headers);
    assert.equal(response.status, 200, response.text);
    return receiveIndex(response.json<{ receiveAddress: string }>().receiveAddress);
  };

  before(async () => {
    const publicDir = join(tempDir('dctrl-ui-'), 'public');
    const built = spawnSync(process.execPath, ['scripts/build-ui.mjs', publicDir], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    hub = await startServerHub({
      config: {
        server: { port: 0, publicDir, apiClients: { 'treasury-bot': 'treasurer' } },
        bus: { requestTimeoutMs: 5_000 },
        reporter: { checkIntervalMs: 3_600_000 },
      },
      payouts: {
        chain: new SimulatedChain('regtest'),
        config: {
          walletDescriptor: testWalletDescriptorText(),
          birthHeight: 0,
          approvers: ['tess', 'root'],
          approvalsRequired: 2,
          confirmations: 2,
          gapLimit: 5,
          pollMs: 3_600_000,
          fee: { fallbackSatPerVb: 2, floorSatPerVb: 1, ceilingSatPerVb: 50 },
        },
      },
    });
    await hub.user('tess', 'treasurer');
    cookie = await hub.login('tess');
  });
  after(async () => {
    for (const close of closers) await close();
    await browser?.close();
    await hub?.stop();
  });

  test('a POST from another site with a treasurer’s cookie is refused (403) for login, wallet address and broadcast, and hands out nothing', async () => {
    const before = await freshAddress({ origin: hub.base });
    const login = JSON.stringify({ name: 'tess', password: passwordOf('tess') });
    const json = { 'content-type': 'application/json' };
    const attempts: [string, string | undefined][] = [
      ['/api/v1/session', login],
      ['/api/v1/payout-wallet/address', undefined],
      [`/api/v1/psbts/${UNKNOWN_PSBT}/broadcast`, undefined],
    ];
    for (const [path, body] of attempts) {
      const crossSite: Record<string, string>[] = [
        { origin: EVIL },
        { origin: 'null' },
        // Another port of the same host is the same site, so a SameSite=Strict cookie goes along: Origin stops it.
        { origin: hub.base.replace(/:\d+$/, ':1') },
        { 'sec-fetch-site': 'cross-site', origin: EVIL },
        { 'sec-fetch-site': 'same-site' },
      ];
      for (const headers of crossSite) {
        const response = await post(path, { ...(body === undefined ? {} : json), ...headers }, body);
        assert.equal(response.status, 403, `${path} ${JSON.stringify(headers)}: ${response.text}`);
        assert.equal(response.json().code, 'SERVER_CROSS_SITE');
      }
      // What a page elsewhere can send without asking first: text/plain, a form, multipart.
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const response = await post(path, { 'content-type': type, origin: EVIL }, body ?? 'x');
        assert.equal(response.status, 403, `${path} ${type} from another site`);
        const sameOrigin = await post(path, { 'content-type': type, origin: hub.base }, body ?? 'x');
        assert.equal(sameOrigin.status, 415, `${path} ${type}: ${sameOrigin.text}`);
        assert.equal(sameOrigin.json().code, 'SERVER_UNSUPPORTED_MEDIA_TYPE');
      }
    }
    assert.equal(await freshAddress({ origin: hub.base }), before + 1, 'no address was handed out in between');
  });

  test('the dashboard itself (same Origin or Sec-Fetch-Site: same-origin) and programs without either work', async () => {
    const first = await freshAddress({ origin: hub.base });
    assert.equal(await freshAddress({ 'sec-fetch-site': 'same-origin', origin: hub.base }), first + 1);
    assert.equal(await freshAddress({ 'sec-fetch-site': 'same-origin' }), first + 2);
    assert.equal(await freshAddress({}), first + 3, 'a program (curl) with its own login');
    const broadcast = await post(`/api/v1/psbts/${UNKNOWN_PSBT}/broadcast`, { origin: hub.base });
    assert.notEqual(broadcast.status, 403, 'the broadcast is handled (the PSBT is unknown)');
    assert.notEqual(broadcast.status, 415);
    const login = await callFrom('127.0.0.1', `${hub.base}/api/v1/session`, {
      headers: { origin: hub.base },
      body: { name: 'tess', password: passwordOf('tess') },
    });
    assert.equal(login.status, 200);
    const session = String(login.headers['set-cookie']).split(';')[0]!;
    const logout = await callFrom('127.0.0.1', `${hub.base}/api/v1/session`, {
      method: 'DELETE',
      headers: { origin: hub.base, cookie: session },
    });
    assert.equal(logout.status, 204);
  });

  test('a machine with a Bearer Vault API token keeps working', async () => {
    const { token } = await hub.h.apiToken('treasury-bot');
    const response = await callFrom('127.0.0.1', `${hub.base}/api/v1/payout-wallet/address`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200, response.text);
    receiveIndex(response.json<{ receiveAddress: string }>().receiveAddress);
    const wallet = await callFrom('127.0.0.1', `${hub.base}/api/v1/payout-wallet`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(wallet.status, 200);
  });

  describe('in Chromium', { skip: browserSkip }, () => {
    /** A page of another site: the same host on another port, so the dashboard's SameSite=Strict cookie goes along. */
    let attacker: string;

    before(async () => {
      browser = await launchChromium();
      const page = (target: string) => `<!doctype html><html><body>
<iframe id="framed" src="${target}/"></iframe>
<script>
fetch(${JSON.stringify(`${target}/api/v1/session`)}, { mode: 'no-cors', credentials: 'include' });
fetch(${JSON.stringify(`${target}/api/v1/payout-wallet/address`)}, {
  method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{}',
});
</script></body></html>`;
      const server: Server = createServer((request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' }).end(page(hub.base));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      attacker = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
      closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    });

    test('the dashboard logs in and hands out a wallet address under its CSP, with no violation', async () => {
      const context = await browser!.newContext({ locale: 'en-US' });
      context.setDefaultTimeout(WAIT_MS);
      await context.addInitScript(
        // A string, since the tests are typed without the DOM's names: it runs in the page.
        `window.__violations = []; document.addEventListener('securitypolicyviolation', (event) => window.__violations.push(event.violatedDirective + ' ' + event.blockedURI));`,
      );
      const page = await context.newPage();
      const messages: string[] = [];
      page.on('console', (message: ConsoleMessage) => messages.push(message.text()));
      const response = await page.goto(`${hub.base}/`);
      assert.match((await response!.allHeaders())['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      await page.fill('input[name=name]', 'tess');
      await page.fill('input[name=password]', passwordOf('tess'));
      await page.click('button[type=submit]');
      await page.locator('[data-testid=who]').getByText('tess (treasurer)').waitFor();
      await page.getByRole('link', { name: 'Payouts', exact: true }).click();
      await page.getByTestId('payout-balance').waitFor();
      await page.getByRole('button', { name: 'Receive address', exact: true }).click();
      const shown = (await page.locator('.payout-wallet .address code').textContent()) ?? '';
      receiveIndex(shown);
      const violations = await page.evaluate<string[]>('window.__violations');
      assert.deepEqual(violations, []);
      assert.deepEqual(
        messages.filter((text) => /Content Security Policy|Refused to/i.test(text)),
        [],
      );
      await context.close();
    });

    test('a page of another site with the treasurer logged in can neither frame the dashboard nor get an address from it', async () => {
      const context = await browser!.newContext({ locale: 'en-US' });
      context.setDefaultTimeout(WAIT_MS);
      const page = await context.newPage();
      await page.goto(`${hub.base}/`);
      await page.fill('input[name=name]', 'tess');
      await page.fill('input[name=password]', passwordOf('tess'));
      await page.click('button[type=submit]');
      await page.locator('[data-testid=who]').getByText('tess (treasurer)').waitFor();
      const refusedFrame = page.waitForEvent('console', (message) => /frame-ancestors 'none'/.test(message.text()));
      const before = await freshAddress({ origin: hub.base });
      const read = page.waitForResponse(
        (candidate) => candidate.url().endsWith('/api/v1/session') && candidate.request().method() === 'GET',
      );
      const post = page.waitForResponse(
        (candidate) => candidate.url().endsWith('/api/v1/payout-wallet/address') && candidate.request().method() === 'POST',
      );
      await page.goto(attacker);
      const answer = await post;
      // The same-site page's request carries the treasurer's session (SameSite=Strict does not stop it)...
      assert.equal((await read).status(), 200);
      // ...so it is the Origin check that refuses the POST.
      assert.equal(answer.status(), 403);
      assert.equal(await freshAddress({ origin: hub.base }), before + 1, 'no address was handed out to the page');
      await refusedFrame;
      await context.close();
    });
  });
});
