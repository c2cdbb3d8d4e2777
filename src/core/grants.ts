// The topic grants each client's token carries by default: least privilege, derived from the contract.
import type { Grants } from './token.js';
import { Topics } from './messages.js';

/** What every bus client needs: its own namespace, the Vault's public state, and its replies. */
export function baseGrants(client: string): Grants {
  return {
    pub: [`${Topics.root}/${client}/#`, `${Topics.root}/vault/rpc/#`, Topics.sessionRenew],
    sub: [Topics.directory, Topics.revocations, `${Topics.replyBase(client)}/#`, `${Topics.privateReplyBase(client)}/#`],
  };
}

/** Grants beyond the base that the foundation services need for their job. */
const SERVICE_GRANTS: Record<string, Grants> = {
  vault: { pub: [`${Topics.root}/+/reply/#`, 'dctrl/private/+/reply/#'], sub: [`${Topics.root}/vault/rpc/#`] },
  'event-logger': {
    pub: [`${Topics.root}/+/reply/#`],
    sub: [Topics.everything],
  },
  'subscription-mgr': { pub: [], sub: [] },
  'business-data': { pub: [`${Topics.root}/+/reply/#`], sub: [`${Topics.root}/business-data/rpc/#`] },
  /** Asks BusinessData for today's tiers before it records one. */
  'member-data': {
    pub: [`${Topics.root}/+/reply/#`, `${Topics.root}/business-data/rpc/get`],
    sub: [`${Topics.root}/member-data/rpc/#`],
  },
  reporter: {
    pub: [`${Topics.root}/+/reply/#`, `${Topics.root}/member-data/rpc/events`, `${Topics.root}/business-data/rpc/get`],
    sub: [`${Topics.root}/reporter/rpc/#`, `${Topics.root}/member-data/changed`],
  },
  /** Publishes the rate in its own namespace and answers price.quote; it asks no other service. */
  'chain-notifier': {
    pub: [
      `${Topics.root}/+/reply/#`,
      `${Topics.root}/reporter/rpc/record`,
      `${Topics.root}/price-notifier/rpc/quote`,
      `${Topics.root}/business-data/rpc/get`,
      /** An invoice for a member's dues names a member MemberData knows. */
      `${Topics.root}/member-data/rpc/query`,
    ],
    sub: [`${Topics.root}/chain-notifier/rpc/#`, `${Topics.root}/member-data/changed`],
  },
  /** The rules: hears taps, inputs and device reports, reads members and balances, charges purchases, commands devices. */
  'business-mgr': {
    pub: [
      `${Topics.root}/+/reply/#`,
      `${Topics.root}/reporter/rpc/record`,
      `${Topics.root}/reporter/rpc/report`,
      `${Topics.root}/member-data/rpc/query`,
      `${Topics.root}/business-data/rpc/get`,
      `${Topics.root}/chain-notifier/rpc/invoice-list`,
    ],
    sub: [
      `${Topics.root}/business-mgr/rpc/#`,
      `${Topics.root}/+/tap`,
      `${Topics.root}/+/input`,
      `${Topics.root}/+/actuation`,
      `${Topics.root}/+/refused`,
      `${Topics.root}/+/machine-status`,
      `${Topics.root}/member-data/changed`,
      `${Topics.root}/reporter/member-status`,
      `${Topics.root}/reporter/balance`,
      `${Topics.root}/business-data/changed`,
      `${Topics.root}/chain-notifier/invoice`,
    ],
  },
  /** Reads members, statements, policies and deposit addresses to write mail; hears what should bring one. */
  'member-mail': {
    pub: [
      `${Topics.root}/+/reply/#`,
      `${Topics.root}/member-data/rpc/query`,
      `${Topics.root}/member-data/rpc/events`,
      `${Topics.root}/reporter/rpc/report`,
      `${Topics.root}/business-data/rpc/get`,
      `${Topics.root}/chain-notifier/rpc/deposit-address`,
      `${Topics.root}/payout-mgr/rpc/get`,
    ],
    sub: [
      `${Topics.root}/member-mail/rpc/#`,
      `${Topics.root}/payout-mgr/payout`,
      `${Topics.root}/member-data/changed`,
      `${Topics.root}/reporter/member-status`,
      `${Topics.root}/reporter/balance`,
    ],
  },
  /** Prices payouts, records them in the ledger once paid, reads the space's currency and checks a payee member. */
  'payout-mgr': {
    pub: [
      `${Topics.root}/+/reply/#`,
      `${Topics.root}/reporter/rpc/record`,
      `${Topics.root}/price-notifier/rpc/quote`,
      `${Topics.root}/business-data/rpc/get`,
      `${Topics.root}/member-data/rpc/query`,
    ],
    sub: [`${Topics.root}/payout-mgr/rpc/#`],
  },
  'price-notifier': { pub: [`${Topics.root}/+/reply/#`], sub: [`${Topics.root}/price-notifier/rpc/#`] },
  /** The dashboard and REST API: asks the services for what its users may see; hears everything for the live view. */
  server: { pub: [`${Topics.root}/+/rpc/#`], sub: [Topics.everything] },
  /** The command line on the hub: asks the data services, changes settings. */
  cli: { pub: [`${Topics.root}/+/rpc/#`], sub: [] },
};

/**
 * A door or vending machine: its own commands, allow-list and requests (simulated taps); it answers them,
 * uploads its offline log to BusinessMgr and reads the fob hash key from the Vault (base grants).
 */
export function deviceGrants(device: string): Grants {
  return {
    pub: [`${Topics.root}/+/reply/#`, `${Topics.root}/business-mgr/rpc/offline-log`],
    sub: [
      `${Topics.root}/business-mgr/machine/${device}`,
      `${Topics.root}/business-mgr/allow-list/${device}`,
      `${Topics.root}/${device}/rpc/#`,
    ],
  };
}

/** A client that is no service of this build is a device (machines.devices names it). */
export function defaultGrants(client: string, extra: Partial<Grants> = {}): Grants {
  const base = baseGrants(client);
  const service = SERVICE_GRANTS[client] ?? deviceGrants(client);
  return {
    pub: unique([...base.pub, ...service.pub, ...(extra.pub ?? [])]),
    sub: unique([...base.sub, ...service.sub, ...(extra.sub ?? [])]),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
