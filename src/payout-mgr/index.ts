// PayoutMgr: pays approved payouts from the space's watch-only multisig wallet. It never holds a private key: it
// builds PSBTs, the co-signers sign them in their own wallets, and it checks, combines, sends and follows them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { createChainAdaptor, SimulatedChain, type ChainAdaptor } from '../chain-adaptor/index.js';
import {
  HARDENED_OFFSET,
  networkByName,
  parseDescriptor,
  verifyDescriptorChecksum,
  type OutputDescriptor,
} from '../core/bitcoin/index.js';
import { createIdFactory } from '../core/ids.js';
import { DctrlError } from '../core/errors.js';
import { LedgerRecord, MemberQuery, SettingsGet } from '../core/messages.js';
import {
  ApproverKeyChanged,
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyList,
  ApproverKeyRevoke,
  PayoutChanged,
  PayoutDecide,
  PayoutGet,
  PayoutList,
  PayoutRequest,
  PayoutWallet,
  PsbtBroadcast,
  PsbtBuild,
  PsbtDiscard,
  PsbtGet,
  PsbtImport,
  type ApproverKey,
  type PayoutRecord,
} from '../core/messages-payout.js';
import { PriceQuote } from '../core/messages-price.js';
import type { Config } from '../core/config.js';
import type { Service, ServiceContext } from '../core/service.js';
import { migrate, type DatabaseHandle } from '../core/storage/index.js';
import { PayoutMgrError } from './errors.js';
import { PayoutDesk, type Upstream } from './payouts.js';
import { birthHeight, MIGRATIONS, SERVICE_NAME, type PayoutTables } from './store.js';
import { MultisigWallet } from './wallet.js';
import type { Kysely } from 'kysely';

export { SERVICE_NAME };
export { PayoutMgrError, PayoutMgrErrorCodes } from './errors.js';

const DEMO_WALLET_FILE = 'demo-cosigners.json';
const DEMO_THRESHOLD = 2;
const DEMO_COSIGNERS = 3;
/** BIP 48 multisig account, script type 2 (native segwit), on a test network: m/48'/1'/0'/2'. */
const DEMO_ACCOUNT_PATH = "m/48'/1'/0'/2'";

interface DemoCosigner {
  fingerprint: string;
  path: string;
  xprv: string;
  xpub: string;
}

/**
 * A `/0/*` descriptor as Sparrow and Electrum export it names the receive chain; its change is `/1/*`. Both become
 * one multipath descriptor, `/<0;1>/*`.
 */
export function withChangeChain(text: string): string {
  // The checksum covers the text as exported: checked before the text is rewritten.
  const body = verifyDescriptorChecksum(text.trim());
  if (body.includes('<')) return body;
  return body.replaceAll('/0/*', '/<0;1>/*');
}

function demoWalletText(dataDir: string, networkName: Config['chain']['network']): string {
  const file = join(dataDir, DEMO_WALLET_FILE);
  const network = networkByName(networkName);
  if (!existsSync(file)) {
    const plain = network.extendedKeys.find((version) => version.prefix === network.plainKeyPrefix)!;
    const cosigners: DemoCosigner[] = [];
    for (let index = 0; index < DEMO_COSIGNERS; index++) {
      const master = HDKey.fromMasterSeed(crypto.getRandomValues(new Uint8Array(32)), {
        public: plain.public,
        private: plain.private,
      });
      const account = master.derive(DEMO_ACCOUNT_PATH);
      cosigners.push({
        fingerprint: master.fingerprint.toString(16).padStart(8, '0'),
        path: DEMO_ACCOUNT_PATH,
        xprv: master.privateExtendedKey,
        xpub: account.publicExtendedKey,
      });
    }
    const note = 'Demo co-signer keys of the simulated wallet: never on a real network. xprv is each master key.';
    writeFileSync(file, JSON.stringify({ note, threshold: DEMO_THRESHOLD, cosigners }, null, 2) + '\n', { mode: 0o600 });
  }
  const demo = JSON.parse(readFileSync(file, 'utf8')) as { threshold: number; cosigners: DemoCosigner[] };
  const keys = demo.cosigners.map((cosigner) => `[${cosigner.fingerprint}/48h/1h/0h/2h]${cosigner.xpub}/<0;1>/*`);
  return `wsh(sortedmulti(${demo.threshold},${keys.join(',')}))`;
}

/** The wallet's descriptor: configured, or with the simulated chain a demo 2-of-3 made once in the data folder. */
export function walletDescriptor(context: Pick<ServiceContext, 'config'>): OutputDescriptor {
  const { config } = context;
  const network = networkByName(config.chain.network);
  let text = config.payoutMgr.walletDescriptor;
  if (text === undefined) {
    if (config.chain.provider !== 'simulated') {
      throw new PayoutMgrError(
        'PAYOUT_CONFIG_INVALID',
        'payoutMgr.walletDescriptor is not set: give the co-signers’ watch-only wallet, e.g. wsh(sortedmulti(2,[fingerprint/48h/0h/0h/2h]xpub…/0/*,…)) as Sparrow exports it',
      );
    }
    text = demoWalletText(config.dataDir, config.chain.network);
  }
  let descriptor: OutputDescriptor;
  try {
    descriptor = parseDescriptor(withChangeChain(text), network);
  } catch (error) {
    throw new PayoutMgrError('PAYOUT_CONFIG_INVALID', `payoutMgr.walletDescriptor: ${(error as Error).message}`);
  }
  if (descriptor.threshold === undefined || !descriptor.script.startsWith('wsh(')) {
    throw new PayoutMgrError(
      'PAYOUT_CONFIG_INVALID',
      `payoutMgr.walletDescriptor must be a native segwit multisig, wsh(sortedmulti(M, …)) or wsh(multi(M, …)); got ${descriptor.script}`,
    );
  }
  if (descriptor.chainCount < 2) {
    throw new PayoutMgrError(
      'PAYOUT_CONFIG_INVALID',
      'payoutMgr.walletDescriptor needs a change chain: keys ending /0/* (change from /1/*) or /<0;1>/*',
    );
  }
  return descriptor;
}

const DEMO_FUNDS_SATS = [5_000_000, 2_500_000, 1_000_000];

/** The demo wallet's coins on a fresh simulated chain: a few payments to it, mined, so payouts can be tried. */
async function fundDemoWallet(chain: SimulatedChain, wallet: MultisigWallet): Promise<void> {
  await wallet.rescan();
  for (const sats of DEMO_FUNDS_SATS) chain.send([{ script: (await wallet.nextReceive()).script, value: sats }]);
  chain.mine(1);
  await wallet.sync();
}

export function createPayoutMgr(
  context: ServiceContext,
  database: DatabaseHandle,
  options: { adaptor?: ChainAdaptor } = {},
): Service & { follow(): Promise<void>; desk(): PayoutDesk } {
  const { config, clock } = context;
  const settings = config.payoutMgr;
  const log = context.logger.child({ service: SERVICE_NAME });
  const adaptor = options.adaptor ?? createChainAdaptor(config);
  // The demo's own simulated chain lives in memory: it starts anew at each start, and blocks come from here.
  const demoChain = !options.adaptor && adaptor instanceof SimulatedChain ? adaptor : undefined;
  const network = networkByName(config.chain.network);
  let bus: BusClient | undefined;
  let desk: PayoutDesk | undefined;
  let descriptor: OutputDescriptor | undefined;
  let timer: NodeJS.Timeout | undefined;
  let following: Promise<void> = Promise.resolve();

  const client = (): BusClient => {
    if (!bus) throw new PayoutMgrError('PAYOUT_NOT_RUNNING', 'PayoutMgr is not running');
    return bus;
  };
  const running = (): PayoutDesk => {
    if (!desk) throw new PayoutMgrError('PAYOUT_NOT_RUNNING', 'PayoutMgr is not running');
    return desk;
  };

  const upstream: Upstream = {
    async quote(maxAgeMs) {
      const { policies } = (await client().request(SettingsGet, {})) as { policies: { currency: string } };
      const rate = (await client().request(PriceQuote, { currency: policies.currency, maxAgeMs })) as {
        centsPerBtc: number;
        source: string;
        at: number;
        currency: string;
      };
      return { centsPerBtc: rate.centsPerBtc, source: rate.source, at: rate.at, currency: rate.currency };
    },
    async memberKnown(memberId) {
      try {
        await client().request(MemberQuery, { memberId, includeLeft: true });
        return true;
      } catch (error) {
        if (error instanceof DctrlError && /_NOT_FOUND$/.test(error.code)) return false;
        throw error;
      }
    },
    async recordPayout({ cents, sats, rate, causedBy, note }) {
      const { centsPerBtc, source, at } = rate;
      const payload = { kind: 'payout' as const, cents, sats, rate: { centsPerBtc, source, at }, causedBy, note };
      const reply = (await client().request(LedgerRecord, payload)) as {
        entry: { id: string };
      };
      return reply.entry.id;
    },
  };

  const announce = (payout: PayoutRecord): void => {
    bus
      ?.publish(PayoutChanged, {
        payoutId: payout.id,
        state: payout.state,
        memberId: payout.memberId,
        sats: payout.sats,
        cents: payout.cents,
        txid: payout.txid,
        at: clock.now(),
      })
      .catch((error: unknown) => log.warn({ err: (error as Error).message, payoutId: payout.id }, 'payout change not announced'));
  };

  const announceKey = (key: ApproverKey): void => {
    bus
      ?.publish(ApproverKeyChanged, {
        keyId: key.keyId,
        approver: key.approver,
        kind: key.kind,
        state: key.state,
        bootstrap: key.bootstrap,
        endorsedBy: key.endorsements.map((endorsement) => endorsement.approver),
        enrolledBy: key.enrolledBy,
        at: clock.now(),
      })
      .catch((error: unknown) => log.warn({ err: (error as Error).message, keyId: key.keyId }, 'key change not announced'));
  };

  const allowed = (list: readonly string[], key: string, issuer: string): void => {
    if (!list.includes(issuer)) throw new PayoutMgrError('PAYOUT_NOT_ALLOWED', `"${issuer}" is not in payoutMgr.${key}`);
  };

  const follow = (): Promise<void> => {
    following = following
      .then(() => {
        demoChain?.mine(1);
        return running().follow();
      })
      .catch((error: unknown) =>
        log.warn({ err: (error as Error).message }, 'following the chain did not finish; will try again'),
      );
    return following;
  };

  const respond = async (active: BusClient, wallet: MultisigWallet, wanted: OutputDescriptor): Promise<void> => {
    await active.respond(PayoutRequest, (request, envelope) => running().request(request, envelope.issuer));
    await active.respond(PayoutDecide, (request, envelope) => running().decide(request, envelope.issuer));
    await active.respond(ApproverKeyEnroll, (request, envelope) =>
      running().inTurn(() => running().keys.enroll(request, envelope.issuer)),
    );
    await active.respond(ApproverKeyEndorse, (request, envelope) =>
      running().inTurn(() => running().keys.endorse(request, envelope.issuer)),
    );
    await active.respond(ApproverKeyRevoke, (request, envelope) =>
      running().inTurn(() => running().keys.revoke(request, envelope.issuer)),
    );
    await active.respond(ApproverKeyList, (request, envelope) => {
      allowed(settings.readers, 'readers', envelope.issuer);
      return running().keys.list(request.approver);
    });
    await active.respond(PayoutList, (request, envelope) => {
      allowed(settings.readers, 'readers', envelope.issuer);
      return running().list(request);
    });
    await active.respond(PayoutGet, (request, envelope) => {
      allowed(settings.readers, 'readers', envelope.issuer);
      return running().get(request.payoutId);
    });
    await active.respond(PsbtBuild, (request, envelope) => {
      allowed(settings.operators, 'operators', envelope.issuer);
      return running().build(request, request.by ?? envelope.issuer);
    });
    await active.respond(PsbtGet, async (request, envelope) => {
      allowed(settings.readers, 'readers', envelope.issuer);
      return { psbts: await running().psbts(request.psbtId) };
    });
    await active.respond(PsbtImport, (request, envelope) => {
      allowed(settings.operators, 'operators', envelope.issuer);
      return running().import(request, request.by ?? envelope.issuer, envelope.issuer);
    });
    await active.respond(PsbtBroadcast, (request, envelope) => {
      allowed(settings.operators, 'operators', envelope.issuer);
      return running().broadcast(request.psbtId, request.by ?? envelope.issuer);
    });
    await active.respond(PsbtDiscard, (request, envelope) => {
      allowed(settings.operators, 'operators', envelope.issuer);
      return running().discard(request.psbtId, request.reason, request.by ?? envelope.issuer);
    });
    await active.respond(PayoutWallet, async (request, envelope) => {
      allowed(settings.readers, 'readers', envelope.issuer);
      const balance = await wallet.balance();
      const receive = request.newAddress ? await wallet.nextReceive() : undefined;
      return {
        descriptor: wanted.toString(),
        threshold: wanted.threshold!,
        cosigners: wanted.keys.map((key) => ({
          fingerprint: key.origin.fingerprint.toString(16).padStart(8, '0'),
          path: [
            'm',
            ...key.origin.path.map((step) => (step >= HARDENED_OFFSET ? `${step - HARDENED_OFFSET}'` : `${step}`)),
          ].join('/'),
          xpub: key.extendedKey.plainText,
        })),
        confirmedSats: balance.confirmedSats,
        unconfirmedSats: balance.unconfirmedSats,
        reservedSats: await running().reservedSats(),
        coins: balance.coinCount,
        processedHeight: wallet.processedTip()?.height ?? null,
        receiveAddress: receive?.address ?? null,
      };
    });
  };

  return {
    name: SERVICE_NAME,
    follow,
    desk: running,
    async start() {
      descriptor = walletDescriptor(context);
      await adaptor.connect();
      await migrate(database, SERVICE_NAME, MIGRATIONS);
      const db = database.db as Kysely<PayoutTables>;
      const wallet = await MultisigWallet.open(database, clock, {
        adaptor,
        descriptor,
        gapLimit: settings.gapLimit,
        reorgLimit: settings.reorgLimit,
        birthHeight: demoChain ? 0 : await birthHeight(db, settings.birthHeight, async () => (await adaptor.tip()).height),
      });
      if (demoChain) await fundDemoWallet(demoChain, wallet);
      bus = createBusClient(context);
      await bus.start();
      desk = new PayoutDesk({
        db,
        clock,
        log,
        settings,
        descriptor,
        network,
        wallet,
        adaptor,
        upstream,
        newId: createIdFactory(clock),
        changed: announce,
        keyChanged: announceKey,
      });
      await respond(bus, wallet, descriptor);
      void follow();
      timer = setInterval(() => void follow(), settings.pollMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await following;
      await bus?.stop();
      await adaptor.close();
      bus = undefined;
      desk = undefined;
    },
    describe() {
      const wallet = descriptor ? `${descriptor.threshold}-of-${descriptor.keys.length} multisig` : 'multisig';
      return [`payout manager: ${wallet} wallet on ${adaptor.description} (${config.chain.network})`];
    },
  };
}
