// The Server on a real bus with the real services it reads from (BusinessData, MemberData, the Reporter, the
// ChainNotifier on the simulated chain, BusinessMgr; when asked, the PriceNotifier and PayoutMgr on a given simulated
// chain), listening on a free loopback port, and helpers to call it over HTTP as a logged-in user.
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { createBusinessMgr } from '../../src/business-mgr/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { createChainNotifier } from '../../src/chain-notifier/index.js';
import type { Clock } from '../../src/core/clock.js';
import type { ConfigInput } from '../../src/core/config.js';
import { MemberCommand } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createPayoutMgr } from '../../src/payout-mgr/index.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import { createReporter } from '../../src/reporter/index.js';
import { createServer, ServerStore, type Role, type Server } from '../../src/server/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';

export interface ServerHub {
  h: Harness;
  database: DatabaseHandle;
  server: Server;
  /** http://127.0.0.1:port (no trailing slash). */
  base: string;
  cli: BusClient;
  store: ServerStore;
  /** PayoutMgr, when the hub was started with `payouts`: `follow()` makes it catch up with the chain now. */
  payouts?: ReturnType<typeof createPayoutMgr>;
  /** A member who joined through MemberData; returns the id. */
  join(name: string, email: string): Promise<string>;
  /** A dashboard user; the password is the name repeated to 12 characters and more. */
  user(name: string, role: Role, memberId?: string): Promise<{ name: string; password: string }>;
  /** Logs in and returns the Cookie header to send. */
  login(name: string, password?: string): Promise<string>;
  /** A request with the cookie; JSON body when given. */
  call(
    path: string,
    options?: { cookie?: string; method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  stop(): Promise<void>;
}

export const passwordOf = (name: string) => `${name}-password-123`;

export interface ServerHubOptions {
  clock?: Clock;
  config?: ConfigInput;
  /** Also start the PriceNotifier and PayoutMgr, the latter on this chain with this payoutMgr config. */
  payouts?: { chain: SimulatedChain; config: NonNullable<ConfigInput['payoutMgr']> };
}

export async function startServerHub(options: ServerHubOptions = {}): Promise<ServerHub> {
  const h = await startHarness({
    ...(options.clock ? { clock: options.clock } : {}),
    config: {
      server: { port: 0 },
      ...options.config,
      ...(options.payouts ? { payoutMgr: options.payouts.config } : {}),
    },
  });
  const database = await openDatabase({ sqliteFile: `${h.dataDir}/dctrl.db` });
  const payoutClients = options.payouts ? ['price-notifier', 'payout-mgr'] : [];
  for (const client of ['business-data', 'member-data', 'reporter', 'chain-notifier', 'business-mgr', 'server', ...payoutClients])
    h.keeper.ensureClient(client);
  await h.vault.publishChanges();
  const services: Service[] = [
    createBusinessData(await h.context('business-data'), database),
    createMemberData(await h.context('member-data'), database),
    createReporter(await h.context('reporter'), database),
    createChainNotifier(await h.context('chain-notifier'), database, { adaptor: new SimulatedChain('regtest') }),
    createBusinessMgr(await h.context('business-mgr'), database),
  ];
  let payouts: ServerHub['payouts'];
  if (options.payouts) {
    payouts = createPayoutMgr(await h.context('payout-mgr'), database, { adaptor: options.payouts.chain });
    services.push(createPriceNotifier(await h.context('price-notifier')), payouts);
  }
  for (const service of services) await service.start();
  const server = createServer(await h.context('server'), database);
  await server.start();
  services.push(server);
  const base = server.url!.replace(/\/$/, '');
  const cli = await h.client('cli');
  const store = await ServerStore.open(database);
  const call: ServerHub['call'] = (path, callOptions = {}) =>
    fetch(`${base}${path}`, {
      method: callOptions.method ?? (callOptions.body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(callOptions.cookie ? { cookie: callOptions.cookie } : {}),
        ...(callOptions.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...callOptions.headers,
      },
      ...(callOptions.body === undefined ? {} : { body: JSON.stringify(callOptions.body) }),
    });
  return {
    h,
    database,
    server,
    base,
    cli,
    store,
    ...(payouts ? { payouts } : {}),
    async join(name, email) {
      const reply = (await cli.request(MemberCommand, { action: 'join', name, email, tier: 'member' })) as {
        member: { memberId: string };
      };
      return reply.member.memberId;
    },
    async user(name, role, memberId) {
      await store.setUser({ name, role, memberId: memberId ?? null, password: passwordOf(name) }, h.clock.now());
      return { name, password: passwordOf(name) };
    },
    async login(name, password = passwordOf(name)) {
      const response = await call('/api/v1/session', { body: { name, password } });
      if (response.status !== 200) throw new Error(`login ${name}: ${response.status} ${await response.text()}`);
      const cookie = response.headers.get('set-cookie') ?? '';
      return cookie.split(';')[0]!;
    },
    call,
    async stop() {
      for (const service of [...services].reverse()) await service.stop();
      await h.stop();
      await database.close();
    },
  };
}
