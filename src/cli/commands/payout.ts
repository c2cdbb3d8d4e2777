// `dctrl payout …`: ask for a payout, approve or reject it, build the PSBT the co-signers sign, take their signed
// files back, send the transaction, and see where every payout stands.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { BusClient } from '../../auth-proxy/index.js';
import type { PayloadOf } from '../../core/contract.js';
import { isMessageId } from '../../core/ids.js';
import { formatCents, parseAmountToCents } from '../../core/money.js';
import {
  PAYOUT_STATES,
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
  type PayoutRecord,
  type PayoutState,
  type PayoutWalletInfo,
  type PsbtImported,
  type PsbtSummary,
} from '../../core/messages-payout.js';
import { decisionProof, readApproverKey } from '../approver-key.js';
import { onBus, oneOf, print } from '../command-kit.js';
import { CliError } from '../errors.js';
import { parseLimit } from '../options.js';
import { table } from '../table.js';
import { signWithDemoCosigner } from './payout-demo.js';

const MAX_PAGE = 200;
const DEFAULT_PAGE = 50;
/** Building reads every coin of the wallet and asks the node for a fee estimate. */
const BUILD_TIMEOUT_MS = 30_000;
const PSBT_MAGIC = Buffer.from('70736274ff', 'hex');

type Format = 'table' | 'json';

function invalid(message: string): never {
  throw new CliError('CLI_OPTION_INVALID', message);
}

/** Payout and PSBT ids are ULIDs; typed in lower case they are the same id. */
function idOf(what: string, text: string): string {
  const id = text.toUpperCase();
  if (!isMessageId(id))
    invalid(`${what} expects an id (26 letters and digits, as dctrl payout list prints); got "${text.slice(0, 40)}"`);
  return id;
}

function satsOption(text: string): number {
  if (!/^[1-9]\d{0,15}$/.test(text.trim()))
    invalid(`--sats expects a whole number of satoshis above 0; got "${text.slice(0, 40)}"`);
  return Number(text.trim());
}

function feeRateOption(text: string): number {
  const rate = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(rate > 0))
    invalid(`--fee-rate expects sat/vB above 0, like 12 or 2.5; got "${text.slice(0, 40)}"`);
  return rate;
}

function btc(sats: number): string {
  const whole = Math.floor(sats / 1e8);
  return `${whole}.${String(sats % 1e8).padStart(8, '0')} BTC`;
}

function when(at: number | null): string {
  return at === null ? '' : new Date(at).toISOString().slice(0, 16).replace('T', ' ');
}

function describePayout(payout: PayoutRecord): string {
  const amount =
    payout.cents !== null ? `${formatCents(payout.cents)} ${payout.currency} = ${payout.sats} sats` : `${payout.sats} sats`;
  const lines = [
    `payout ${payout.id}: ${payout.state}`,
    `  to ${payout.address}: ${amount}`,
    `  for: ${payout.reason} (asked by ${payout.requester}${payout.memberId ? `, member ${payout.memberId}` : ''}, ${when(payout.requestedAt)} UTC)`,
    `  approvals: ${payout.approvals.length} of ${payout.approvalsRequired}${payout.approvals.length > 0 ? ` (${payout.approvals.map((a) => a.approver).join(', ')})` : ''}`,
  ];
  if (payout.rejection) lines.push(`  rejected by ${payout.rejection.approver}: ${payout.rejection.reason ?? ''}`);
  if (payout.state === 'requested' || payout.state === 'approved') lines.push(`  expires ${when(payout.expiresAt)} UTC`);
  if (payout.psbtId)
    lines.push(`  PSBT ${payout.psbtId}${payout.txid ? `, tx ${payout.txid} (${payout.confirmations} confirmations)` : ''}`);
  if (payout.ledgerEntryId) lines.push(`  in the ledger: ${payout.ledgerEntryId}`);
  if (payout.lastError) lines.push(`  problem: ${payout.lastError.code}: ${payout.lastError.message}`);
  return lines.join('\n');
}

function describePsbt(psbt: PsbtSummary): string {
  const lines = [
    `PSBT ${psbt.id}: ${psbt.state}, tx ${psbt.txid}`,
    `  pays ${psbt.payoutIds.length} payout${psbt.payoutIds.length === 1 ? '' : 's'} from ${psbt.inputs.length} coin${psbt.inputs.length === 1 ? '' : 's'}; fee ${psbt.feeSats} sats (${psbt.feeRateSatPerVb} sat/vB, ${psbt.vsize} vB)`,
    ...psbt.outputs.map(
      (output) =>
        `  → ${output.address} ${btc(output.sats)}${output.change ? ' (change, back to the wallet)' : output.payoutId ? ` (payout ${output.payoutId})` : ''}`,
    ),
    `  signatures per input: ${psbt.signatures.join(', ')} (each needs ${psbt.threshold})${psbt.signedBy.length > 0 ? `; signed by ${psbt.signedBy.join(', ')}` : ''}`,
  ];
  if (psbt.confirmations > 0) lines.push(`  ${psbt.confirmations} confirmations (block ${psbt.blockHeight})`);
  if (psbt.lastError) lines.push(`  problem: ${psbt.lastError.code}: ${psbt.lastError.message}`);
  return lines.join('\n');
}

/** Writes the PSBT as a binary .psbt file (what Sparrow, Electrum and hardware wallets open), or prints base64. */
function exportPsbt(psbt: PsbtSummary, out: string | undefined): void {
  if (out === undefined) {
    print(describePsbt(psbt));
    print(`\n${psbt.base64}`);
    return;
  }
  try {
    writeFileSync(out, Buffer.from(psbt.base64, 'base64'));
  } catch (cause) {
    throw new CliError('CLI_FAILED', `cannot write ${out}: ${(cause as Error).message}`, { cause });
  }
  print(describePsbt(psbt));
  print(`wrote ${out}: give it to the co-signers; bring back each signed file with dctrl payout import <file>`);
}

/** A signed PSBT from a file (binary .psbt or base64 text) or standard input ("-"), as base64. */
function readSignedPsbt(file: string): string {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (cause) {
    throw new CliError('CLI_FAILED', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  if (bytes.subarray(0, PSBT_MAGIC.length).equals(PSBT_MAGIC)) return bytes.toString('base64');
  const text = bytes.toString('utf8').trim();
  if (text === '') invalid(`${file} is empty`);
  return text;
}

async function request(command: Command, options: RequestOptions): Promise<void> {
  if ((options.sats === undefined) === (options.amount === undefined)) {
    invalid('payout request takes the amount either as --sats or as --amount (in the space’s currency), exactly one');
  }
  const payload: PayloadOf<typeof PayoutRequest> = {
    address: options.to,
    reason: options.reason,
    requester: options.requester,
    ...(options.sats !== undefined ? { sats: options.sats } : { cents: parseAmountToCents(options.amount!) }),
    ...(options.member !== undefined ? { memberId: options.member } : {}),
    ...(options.key !== undefined ? { idempotencyKey: options.key } : {}),
  };
  await onBus(command, async (bus) => print(describePayout((await bus.request(PayoutRequest, payload)) as PayoutRecord)));
}

interface RequestOptions {
  to: string;
  sats?: number;
  amount?: string;
  reason: string;
  requester: string;
  member?: string;
  key?: string;
}

async function decide(command: Command, id: string, decision: 'approve' | 'reject', options: { key: string; reason?: string }) {
  if (decision === 'reject' && options.reason === undefined) invalid('payout reject needs --reason, for the requester');
  const payoutId = idOf(`payout ${decision}`, id);
  const keyFile = readApproverKey(options.key);
  await onBus(command, async (bus) => {
    const { payout } = (await bus.request(PayoutGet, { payoutId })) as { payout: PayoutRecord };
    const reason = options.reason ?? null;
    // What is signed is what is shown: a payout changed since, or another one, does not take this signature.
    print(`${decision === 'approve' ? 'approving' : 'rejecting'} as ${keyFile.approver} (key ${keyFile.keyId}):`);
    print(describePayout(payout));
    const payload: PayloadOf<typeof PayoutDecide> = {
      payoutId,
      approver: keyFile.approver,
      decision,
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      proof: decisionProof(keyFile, payout, decision, reason, Date.now()),
    };
    print(describePayout((await bus.request(PayoutDecide, payload)) as PayoutRecord));
  });
}

async function list(
  command: Command,
  options: { state?: PayoutState; member?: string; limit: number; before?: string; format: Format },
) {
  const payload: PayloadOf<typeof PayoutList> = {
    limit: options.limit,
    ...(options.state !== undefined ? { state: options.state } : {}),
    ...(options.member !== undefined ? { memberId: options.member } : {}),
    ...(options.before !== undefined ? { before: options.before } : {}),
  };
  await onBus(command, async (bus) => {
    const page = (await bus.request(PayoutList, payload)) as { payouts: PayoutRecord[]; next: string | null };
    if (options.format === 'json') return print(JSON.stringify(page, null, 2));
    if (page.payouts.length === 0) return print('no payouts');
    const rows = [['id', 'asked', 'state', 'sats', 'to', 'approvals', 'reason', 'problem']];
    for (const payout of page.payouts) {
      rows.push([
        payout.id,
        when(payout.requestedAt),
        payout.state,
        String(payout.sats),
        payout.address,
        `${payout.approvals.length}/${payout.approvalsRequired}`,
        payout.reason.slice(0, 40),
        payout.lastError?.code ?? '',
      ]);
    }
    print(table(rows));
    if (page.next !== null) print(`older payouts: dctrl payout list --before ${page.next}`);
  });
}

async function show(command: Command, id: string) {
  await onBus(command, async (bus) => {
    const { payout, psbt } = (await bus.request(PayoutGet, { payoutId: idOf('payout show', id) })) as {
      payout: PayoutRecord;
      psbt: PsbtSummary | null;
    };
    print(describePayout(payout));
    if (psbt) print(describePsbt(psbt));
  });
}

async function psbt(
  command: Command,
  payoutIds: string[],
  options: { show?: string; feeRate?: number; out?: string; as?: string },
) {
  await onBus(command, async (bus: BusClient) => {
    if (options.show !== undefined) {
      if (payoutIds.length > 0 || options.feeRate !== undefined)
        invalid('--show exports a PSBT already built; it takes no payout ids or --fee-rate');
      const { psbts } = (await bus.request(PsbtGet, { psbtId: idOf('--show', options.show) })) as { psbts: PsbtSummary[] };
      return exportPsbt(psbts[0]!, options.out);
    }
    const payload: PayloadOf<typeof PsbtBuild> = {
      ...(payoutIds.length > 0 ? { payoutIds: payoutIds.map((id) => idOf('payout psbt', id)) } : {}),
      ...(options.feeRate !== undefined ? { feeRateSatPerVb: options.feeRate } : {}),
      ...(options.as !== undefined ? { by: options.as } : {}),
    };
    exportPsbt((await bus.request(PsbtBuild, payload, { timeoutMs: BUILD_TIMEOUT_MS })) as PsbtSummary, options.out);
  });
}

async function importSigned(command: Command, file: string, options: { psbt?: string; as?: string }) {
  const payload: PayloadOf<typeof PsbtImport> = {
    psbt: readSignedPsbt(file),
    ...(options.psbt !== undefined ? { psbtId: idOf('--psbt', options.psbt) } : {}),
    ...(options.as !== undefined ? { by: options.as } : {}),
  };
  await onBus(command, async (bus) => {
    const reply = (await bus.request(PsbtImport, payload, { timeoutMs: BUILD_TIMEOUT_MS })) as PsbtImported;
    const signers = [...new Set(reply.added.map((signature) => signature.fingerprint))];
    print(
      `took ${reply.added.length} new signature${reply.added.length === 1 ? '' : 's'}${signers.length > 0 ? ` from ${signers.join(', ')}` : ''}${reply.alreadyHad > 0 ? ` (${reply.alreadyHad} already had)` : ''}`,
    );
    print(describePsbt(reply.psbt));
    if (reply.psbt.state === 'signed') print(`the quorum has signed: send it with dctrl payout broadcast ${reply.psbt.id}`);
  });
}

async function broadcast(command: Command, id: string, options: { as?: string }) {
  await onBus(command, async (bus) => {
    const sent = (await bus.request(
      PsbtBroadcast,
      { psbtId: idOf('payout broadcast', id), ...(options.as !== undefined ? { by: options.as } : {}) },
      { timeoutMs: BUILD_TIMEOUT_MS },
    )) as PsbtSummary;
    print(describePsbt(sent));
    print(`sent: ${sent.txid}; the payouts count as paid after the configured confirmations`);
  });
}

async function discard(command: Command, id: string, options: { reason: string; as?: string }) {
  await onBus(command, async (bus) => {
    const discarded = (await bus.request(PsbtDiscard, {
      psbtId: idOf('payout discard', id),
      reason: options.reason,
      ...(options.as !== undefined ? { by: options.as } : {}),
    })) as PsbtSummary;
    print(`discarded PSBT ${discarded.id}; its payouts (${discarded.payoutIds.join(', ')}) are approved again`);
  });
}

async function wallet(command: Command, options: { newAddress?: boolean; format: Format }) {
  await onBus(command, async (bus) => {
    const info = (await bus.request(PayoutWallet, options.newAddress ? { newAddress: true } : {})) as PayoutWalletInfo;
    if (options.format === 'json') return print(JSON.stringify(info, null, 2));
    print(
      [
        `${info.threshold}-of-${info.cosigners.length} multisig: ${btc(info.confirmedSats)} confirmed, ${btc(info.unconfirmedSats)} unconfirmed, ${btc(info.reservedSats)} held by unsent PSBTs, in ${info.coins} coins`,
        `followed to block ${info.processedHeight ?? 'none yet'}`,
        ...info.cosigners.map((cosigner) => `  co-signer ${cosigner.fingerprint} ${cosigner.path} ${cosigner.xpub}`),
        `descriptor: ${info.descriptor}`,
        ...(info.receiveAddress ? [`fund it at: ${info.receiveAddress}`] : []),
      ].join('\n'),
    );
  });
}

export function registerPayoutCommands(program: Command): void {
  const payout = program
    .command('payout')
    .description('payouts from the multisig wallet: request, approve, build the PSBT, take the signatures back, send');
  const limitOption = (text: string) => parseLimit(text, MAX_PAGE);
  payout
    .command('request')
    .description('ask for a payout; approvers then approve it')
    .requiredOption('--to <address>', 'the bitcoin address to pay (on the configured network)')
    .option('--sats <n>', 'the amount in satoshis', satsOption)
    .option('--amount <amount>', 'the amount in the space’s currency, like 42.50 (converted at a fresh rate)')
    .requiredOption('--reason <text>', 'what it pays for')
    .requiredOption('--requester <name>', 'who asks for it')
    .option('--member <memberId>', 'the member it pays, who gets the payout notice by mail')
    .option('--key <idempotencyKey>', 'a retry key: asking again with it gives back the first request')
    .action((o: RequestOptions, c: Command) => request(c, o));
  payout
    .command('approve <payoutId>')
    .description('approve a requested payout, signed with your approver key (each approver counts once)')
    .requiredOption('--key <file>', 'your approver key file (dctrl approver keygen), enrolled and endorsed')
    .action((id: string, o: { key: string }, c: Command) => decide(c, id, 'approve', o));
  payout
    .command('reject <payoutId>')
    .description('reject a requested payout, signed with your approver key')
    .requiredOption('--key <file>', 'your approver key file (dctrl approver keygen), enrolled and endorsed')
    .requiredOption('--reason <text>', 'why, for the requester')
    .action((id: string, o: { key: string; reason: string }, c: Command) => decide(c, id, 'reject', o));
  payout
    .command('list')
    .description('payouts, newest first, with their state and approvals')
    .option('--state <state>', `only payouts in this state: ${PAYOUT_STATES.join(', ')}`, oneOf('--state', PAYOUT_STATES))
    .option('--member <memberId>', 'only payouts to this member')
    .option('--limit <n>', `how many (at most ${MAX_PAGE})`, limitOption, DEFAULT_PAGE)
    .option('--before <payoutId>', 'the page after this payout', (text: string) => idOf('--before', text))
    .option('--format <format>', 'table or json', oneOf('--format', ['table', 'json'] as const), 'table' as Format)
    .action((o: Parameters<typeof list>[1], c: Command) => list(c, o));
  payout
    .command('show <payoutId>')
    .description('one payout: amount, approvals, its PSBT and transaction')
    .action((id: string, _o: unknown, c: Command) => show(c, id));
  payout
    .command('psbt [payoutIds...]')
    .description(
      'build a PSBT paying the approved payouts named (or all of them, batched) for the co-signers; or export one with --show',
    )
    .option(
      '--fee-rate <satPerVb>',
      'the fee rate instead of the node’s estimate (within payoutMgr.fee’s floor and ceiling)',
      feeRateOption,
    )
    .option('--show <psbtId>', 'export a PSBT already built, with the signatures taken in so far')
    .option(
      '--out <file>',
      'write it as a binary .psbt file (for Sparrow, Electrum, a hardware wallet) instead of printing base64',
    )
    .option('--as <name>', 'who builds it (for the record)')
    .action((ids: string[], o: { show?: string; feeRate?: number; out?: string; as?: string }, c: Command) => psbt(c, ids, o));
  payout
    .command('import <file>')
    .description('take a co-signer’s signed PSBT (binary .psbt or base64; "-" reads standard input): checked, then combined in')
    .option('--psbt <psbtId>', 'the PSBT it signs (found by its transaction when not given)')
    .option('--as <name>', 'who brings it (for the record)')
    .action((file: string, o: { psbt?: string; as?: string }, c: Command) => importSigned(c, file, o));
  payout
    .command('broadcast <psbtId>')
    .description('send the transaction of a PSBT the quorum has signed')
    .option('--as <name>', 'who sends it (for the record)')
    .action((id: string, o: { as?: string }, c: Command) => broadcast(c, id, o));
  payout
    .command('discard <psbtId>')
    .description('give up a PSBT not yet sent: its coins are free again and its payouts approved again')
    .requiredOption('--reason <text>', 'why')
    .option('--as <name>', 'who discards it (for the record)')
    .action((id: string, o: { reason: string; as?: string }, c: Command) => discard(c, id, o));
  payout
    .command('wallet')
    .description('the multisig wallet: balance, co-signers, descriptor; --new-address for a fresh address to fund it')
    .option('--new-address', 'hand out a fresh receive address')
    .option('--format <format>', 'table or json', oneOf('--format', ['table', 'json'] as const), 'table' as Format)
    .action((o: { newAddress?: boolean; format: Format }, c: Command) => wallet(c, o));
  payout
    .command('sign-demo <psbtId>')
    .description('demo only: sign a PSBT with one of the demo co-signer keys in the data folder, and import it')
    .requiredOption('--cosigner <n>', 'which demo co-signer: 1, 2 or 3', oneOf('--cosigner', ['1', '2', '3'] as const))
    .action(async (id: string, o: { cosigner: '1' | '2' | '3' }, c: Command) => {
      await onBus(c, async (bus) => {
        const { psbts } = (await bus.request(PsbtGet, { psbtId: idOf('payout sign-demo', id) })) as { psbts: PsbtSummary[] };
        const signed = signWithDemoCosigner(c, psbts[0]!.base64, Number(o.cosigner) - 1);
        const reply = (await bus.request(PsbtImport, {
          psbtId: psbts[0]!.id,
          psbt: signed,
          by: `demo co-signer ${o.cosigner}`,
        })) as {
          psbt: PsbtSummary;
        };
        print(describePsbt(reply.psbt));
        if (reply.psbt.state === 'signed') print(`the quorum has signed: send it with dctrl payout broadcast ${reply.psbt.id}`);
      });
    });
}
