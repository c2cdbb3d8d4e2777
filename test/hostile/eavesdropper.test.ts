// Issue 14: the whole hub over a Mosquitto with no ACLs and anonymous access, an outsider subscribed to every topic.
// While devices start, tokens renew, members are listed, mail is made, a fob opens the door, a drink is vended and a
// payout is approved, the outsider records every byte; then no secret, token, fob hash, email, name, balance or
// address may be found in what it recorded, and the door, the vending machine and the ledger must still work.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh } from '@scure/btc-signer';
import { MemberCommand, ReportRequest, Topics } from '../../src/core/messages.js';
import { PayoutRequest } from '../../src/core/messages-payout.js';
import { enrollApprovers, signedDecision } from '../payout-mgr/approvers.js';
import { signToken } from '../../src/core/token.js';
import { readCredentialsBundle } from '../../src/cli/credentials.js';
import { DOOR, dumpRecording, startHostileSpace, until, VENDING, type HostileSpace } from './hostile-space.js';
import { encodings, findLeaks, leaksOfKind, type KnownSecret, type Leak } from './leaks.js';

const REGTEST = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };

/** Names no other message could contain by chance, so a hit is the member's data and nothing else. */
const PEOPLE = {
  active: { name: 'Ada Quellmorrow', email: 'ada.quellmorrow@hostile.example', fob: '0004231000' },
  keyholder: { name: 'Grace Vantablack', email: 'grace.vantablack@hostile.example', fob: '0004231001' },
  left: { name: 'Ken Obsidianne', email: 'ken.obsidianne@hostile.example', fob: '0004231004' },
  drinker: { name: 'Barbara Lindqvarn', email: 'barbara.lindqvarn@hostile.example', fob: '0004231009' },
} as const;
type Who = keyof typeof PEOPLE;

let space: HostileSpace;
const ids = {} as Record<Who, string>;
const results: {
  doorOpenedFor?: { allowed: boolean; reason: string; outcome: string | null };
  doorRefused?: { allowed: boolean; reason: string };
  doorPulses?: number;
  vend?: { allowed: boolean; reason: string; cents: number | null; outcome: string | null };
  vendPulses?: number;
  renewals?: number;
  depositAddresses: Map<Who, string>;
  payoutAddress?: string;
  payoutState?: string;
  cliBalances?: { code: number | null; stdout: string; stderr: string };
} = { depositAddresses: new Map() };
let secrets: KnownSecret[] = [];
let leaks: Leak[] = [];
/** The tokens signed again from the Vault's records, to show that collecting them that way finds the real ones. */
const resignedTokens = new Set<string>();

before(async () => {
  space = await startHostileSpace();
  const { cli } = space;
  ids.active = await space.addMember(PEOPLE.active.name, PEOPLE.active.email, PEOPLE.active.fob);
  ids.keyholder = await space.addMember(PEOPLE.keyholder.name, PEOPLE.keyholder.email, PEOPLE.keyholder.fob, ['keyholders']);
  ids.left = await space.addMember(PEOPLE.left.name, PEOPLE.left.email, PEOPLE.left.fob);
  ids.drinker = await space.addMember(PEOPLE.drinker.name, PEOPLE.drinker.email, PEOPLE.drinker.fob);
  await space.pay(ids.active, 15_125, 'receipt-hostile-ada');
  await space.pay(ids.keyholder, 7_575, 'receipt-hostile-grace');
  await space.pay(ids.drinker, 9_935, 'receipt-hostile-barbara');
  await cli.request(MemberCommand, { action: 'leave', memberId: ids.left });

  // A tap at the door through the reader's own input path: the door hashes it with the key it fetched from the Vault.
  const door = space.devices[DOOR];
  const doorBefore = door.mgr.pulses().length;
  door.notifier.handleReaderText(`${PEOPLE.active.fob}\n`, 'stdin');
  await until(() => door.mgr.pulses().length === doorBefore + 1, 'the door to open for an active member');
  const [tapped] = await space.decisions({ device: DOOR, memberId: ids.active });
  const opened = await space.decisionFor(tapped!.tapId!, true);
  results.doorOpenedFor = { allowed: opened.allowed, reason: opened.reason, outcome: opened.outcome };
  const refusedTap = door.notifier.handleHashedFob(space.fob(PEOPLE.left.fob), 'simulated');
  const refused = await space.decisionFor(refusedTap.tapId!);
  results.doorRefused = { allowed: refused.allowed, reason: refused.reason };

  const vending = space.devices[VENDING];
  const vendBefore = vending.mgr.pulses().length;
  vending.notifier.handleReaderText(`${PEOPLE.drinker.fob}\n`, 'stdin');
  await until(() => vending.mgr.pulses().length === vendBefore + 1, 'the vending machine to drop a drink');
  const [vended] = await space.decisions({ device: VENDING, memberId: ids.drinker });
  const vendDecision = await space.decisionFor(vended!.tapId!, true);
  results.vend = {
    allowed: vendDecision.allowed,
    reason: vendDecision.reason,
    cents: vendDecision.cents,
    outcome: vendDecision.outcome,
  };

  // Members listed, balances and a statement read, deposit addresses handed out: through the REST API as a
  // treasurer's script, which asks MemberData, the Reporter and the ChainNotifier over the bus.
  await space.rest('/api/v1/members');
  await space.rest('/api/v1/reports/balances');
  for (const who of Object.keys(PEOPLE) as Who[]) {
    await space.rest(`/api/v1/members/${ids[who]}/statement`);
    const deposit = await space.rest<{ address: string }>(`/api/v1/members/${ids[who]}/deposit`);
    results.depositAddresses.set(who, deposit.address);
  }
  // And through the real command line, which mints its own token from the hub's Vault and asks over the broker.
  results.cliBalances = await space.dctrl(['report', 'balances']);
  await cli.request(ReportRequest, { report: 'members', format: 'json' });

  // A payout to a member, approved by two approvers through the command line's client.
  results.payoutAddress = p2wpkh(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), REGTEST).address!;
  const requested = (await cli.request(PayoutRequest, {
    address: results.payoutAddress,
    cents: 2_500,
    reason: 'reimbursement for soldering tips',
    requester: 'Morgan Stanleigh',
    memberId: ids.keyholder,
  })) as { id: string };
  await enrollApprovers(cli, ['treasurer', 'admin']);
  await signedDecision(cli, requested.id, 'treasurer');
  const approved = await signedDecision(cli, requested.id, 'admin');
  results.payoutState = approved.state;

  // Receipts for the three payments, written as .eml files (no SMTP host): MemberMail asked for each address.
  const mailDir = join(space.hubConfig.dataDir, 'mail');
  await until(() => mailFiles(mailDir).length >= 3, 'three receipts in the mail drop folder', 20_000);

  // The devices renew their short-lived tokens on their own while all this runs; wait for the Vault to have renewed
  // each at least twice (its records, not the wire: where a renewal travels is what is under test).
  const renewed = () =>
    space.hub
      .keeper!.listTokens({ includeExpired: true })
      .filter((record) => record.renewedFrom !== null && (record.client === DOOR || record.client === VENDING));
  await until(
    () => renewed().filter((r) => r.client === DOOR).length >= 2 && renewed().filter((r) => r.client === VENDING).length >= 2,
    'two token renewals of each device',
    20_000,
  );
  results.renewals = renewed().length;
  results.doorPulses = door.mgr.pulses().length - doorBefore;
  results.vendPulses = vending.mgr.pulses().length - vendBefore;

  await space.recorder.stop();
  secrets = await collectSecrets();
  leaks = findLeaks(space.recorder, secrets);
  if (process.env.HOSTILE_DUMP) dumpRecording(space.recorder, process.env.HOSTILE_DUMP);
});

after(async () => {
  await space?.stop();
});

function mailFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.eml'));
  } catch {
    return [];
  }
}

/** Every value an outsider must not learn, read back from the hub's own stores and outputs after the run. */
async function collectSecrets(): Promise<KnownSecret[]> {
  const keeper = space.hub.keeper!;
  const found: KnownSecret[] = encodings('fob hash key', 'fob hash key', keeper.secret('fob-hash-key'));
  // Every token the Vault issued, signed again from its records (EdDSA is deterministic: the same string).
  const tokens = new Set<string>(space.handedOut);
  for (const record of keeper.listTokens({ includeExpired: true }))
    resignedTokens.add(await signToken(keeper.root.privateKey, record));
  for (const token of resignedTokens) tokens.add(token);
  for (const device of Object.values(space.devices))
    for (const credentials of readCredentialsBundle(device.bundleFile).values()) tokens.add(credentials.token);
  for (const token of tokens) {
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; jti: string };
    found.push({ kind: 'token', label: `token ${claims.jti} of ${claims.sub}`, value: token });
    found.push({ kind: 'token', label: `signature of token ${claims.jti} of ${claims.sub}`, value: token.split('.')[2]! });
  }
  for (const who of Object.keys(PEOPLE) as Who[]) {
    const person = PEOPLE[who];
    found.push({ kind: 'fob hash', label: `fob hash of ${person.name}`, value: space.fob(person.fob).hash });
    found.push({ kind: 'email', label: `email of ${person.name}`, value: person.email });
    found.push({ kind: 'name', label: `name of ${person.name}`, value: person.name });
    found.push({ kind: 'address', label: `deposit address of ${person.name}`, value: results.depositAddresses.get(who)! });
    // Every balance the member had during the run (the running balance of each statement line), in each JSON field
    // that carries one in the real payloads.
    const statement = (await space.cli.request(ReportRequest, { report: 'statement', memberId: ids[who], format: 'json' })) as {
      json: { entries: { balanceCents: number }[]; member: { balanceCents: number } };
    };
    const values = new Set([statement.json.member.balanceCents, ...statement.json.entries.map((entry) => entry.balanceCents)]);
    for (const cents of [...values].filter((value) => value !== 0))
      for (const field of ['balanceCents', 'closingCents', 'openingCents'])
        found.push({ kind: 'balance', label: `balance of ${person.name} (${field} ${cents})`, value: `"${field}":${cents}` });
  }
  found.push({ kind: 'address', label: 'payout address', value: results.payoutAddress! });
  return found;
}

test('the door opens for an active member and stays shut for one who left, decided by the hub over Mosquitto', () => {
  assert.deepEqual(results.doorOpenedFor, { allowed: true, reason: 'member-active', outcome: 'actuated' });
  assert.deepEqual(results.doorRefused, { allowed: false, reason: 'left' });
  assert.equal(results.doorPulses, 1, 'one tap, one pulse; the refusal moved nothing');
});

test('a drink is vended once and charged to the member’s balance; the ledger shows the payment and the purchase', async () => {
  assert.deepEqual(results.vend, { allowed: true, reason: 'member-active', cents: 350, outcome: 'actuated' });
  assert.equal(results.vendPulses, 1);
  const statement = (await space.cli.request(ReportRequest, {
    report: 'statement',
    memberId: ids.drinker,
    format: 'json',
  })) as { json: { entries: { kind: string; cents: number }[]; member: { balanceCents: number } } };
  const kinds = statement.json.entries.map((entry) => `${entry.kind}:${entry.cents}`);
  assert.ok(kinds.includes('payment:9935'), `the payment is on the statement: ${kinds.join(', ')}`);
  assert.ok(kinds.includes('purchase:-350') || kinds.includes('purchase:350'), `the drink is on it: ${kinds.join(', ')}`);
});

test('`dctrl report balances` lists the members’ balances through the foreign broker', () => {
  const run = results.cliBalances!;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Ada Quellmorrow/);
  assert.match(run.stdout, /151\.25/);
});

test('mail was made and a payout was approved during the recording', () => {
  const mailDir = join(space.hubConfig.dataDir, 'mail');
  const receipts = mailFiles(mailDir).map((name) => readFileSync(join(mailDir, name), 'utf8'));
  assert.ok(
    receipts.some((mail) => mail.includes(PEOPLE.drinker.email)),
    'a receipt went to the member who paid (the mail service learned her address over the bus)',
  );
  assert.equal(results.payoutState, 'approved');
});

test('the eavesdropper really heard the traffic: the devices’ private replies, the allow-lists, the token renewals', () => {
  const topics = space.recorder.messages().map((message) => message.topic);
  assert.ok(
    topics.some((topic) => topic.startsWith(`dctrl/private/${DOOR}/reply/`)),
    'the door’s private replies',
  );
  assert.ok(
    topics.some((topic) => topic.startsWith('dctrl/v1/business-mgr/allow-list/')),
    'the allow-lists',
  );
  assert.ok((results.renewals ?? 0) >= 4, `device tokens renewed by the Vault: ${results.renewals}`);
  assert.ok(topics.filter((topic) => topic === Topics.tokenRenew).length >= 4, `the renewal requests on ${Topics.tokenRenew}`);
  const missing = [...space.handedOut].filter((token) => !resignedTokens.has(token));
  assert.deepEqual(missing, [], 'every token handed out is among those signed again from the Vault’s records');
  assert.ok(resignedTokens.size >= 12, `tokens collected from the Vault: ${resignedTokens.size}`);
});

for (const [kind, what] of [
  ['fob hash key', 'the fob hash key (hex, base64, base64url)'],
  ['token', 'any token the Vault issued, or its signature'],
  ['fob hash', 'any member’s fob hash'],
  ['email', 'any member’s email'],
  ['name', 'any member’s name'],
  ['balance', 'any member’s balance as JSON'],
  ['address', 'any deposit or payout address'],
] as const) {
  test(`an outsider on the broker never reads ${what}`, () => {
    const found = leaksOfKind(leaks, kind);
    assert.ok(
      secrets.some((secret) => secret.kind === kind),
      `no ${kind} collected: the search would prove nothing`,
    );
    if (found !== '') assert.fail(`${kind} readable off the wire:\n${found}`);
  });
}
