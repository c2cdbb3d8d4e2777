// `dctrl bitcoin …`, `dctrl invoice …` and `dctrl price`: deposit addresses, payments, invoices and the rate.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ChainPayments, DepositAddress, InvoiceCreate, InvoiceGet, InvoiceList } from '../../core/messages-chain.js';
import { PriceQuote } from '../../core/messages-price.js';
import { formatCents, parseAmountToCents } from '../../core/money.js';
import { withBus } from '../bus-session.js';
import { configFrom, type GlobalOptions } from '../options.js';

function print(text: string): void {
  process.stdout.write(text + '\n');
}

function onBus<T>(command: Command, work: Parameters<typeof withBus<T>>[1]): Promise<T> {
  return withBus(configFrom(command.optsWithGlobals<GlobalOptions>()), work);
}

interface Invoice {
  id: string;
  state: string;
  cents: number;
  currency: string;
  sats: number;
  address: string;
  uri: string;
  expiresAt: number;
  paidSats: number;
  flags: { partial: boolean; over: boolean; late: boolean };
  qrSvg?: string;
  qrPng?: string;
}

function describeInvoice(invoice: Invoice): string {
  const flags = Object.entries(invoice.flags)
    .filter(([, set]) => set)
    .map(([flag]) => flag);
  return [
    `${invoice.id}  ${invoice.state}${flags.length ? ` (${flags.join(', ')})` : ''}  ${formatCents(invoice.cents)} ${invoice.currency} = ${invoice.sats} sats, paid ${invoice.paidSats}`,
    `  ${invoice.uri}`,
    `  expires ${new Date(invoice.expiresAt).toISOString()}`,
  ].join('\n');
}

/** Writes the QR codes beside each other as <stem>.svg and <stem>.png. */
function writeQr(invoice: Invoice, stem: string): void {
  if (invoice.qrSvg) writeFileSync(`${stem}.svg`, invoice.qrSvg);
  if (invoice.qrPng) writeFileSync(`${stem}.png`, Buffer.from(invoice.qrPng, 'base64'));
  print(`  QR code: ${stem}.svg, ${stem}.png`);
}

export function registerBitcoinCommands(program: Command): void {
  const bitcoin = program.command('bitcoin').description('members’ bitcoin deposit addresses and payments');
  bitcoin
    .command('address <memberId>')
    .description('the member’s deposit address (the same every time) and its BIP21 URI')
    .action((memberId: string, _o: unknown, c: Command) =>
      onBus(c, async (bus) => {
        const reply = (await bus.request(DepositAddress, { memberId })) as { address: string; uri: string; index: number };
        print(`${reply.address}  (index ${reply.index})\n${reply.uri}`);
      }),
    );
  bitcoin
    .command('payments')
    .description('bitcoin payments to members’ addresses, and how far each has got')
    .option('--member <memberId>', 'one member only')
    .option('--json', 'print JSON')
    .action((o: { member?: string; json?: boolean }, c: Command) =>
      onBus(c, async (bus) => {
        const { payments } = (await bus.request(ChainPayments, o.member ? { memberId: o.member } : {})) as {
          payments: {
            txid: string;
            vout: number;
            sats: number;
            ownerId: string | null;
            state: string;
            confirmations: number;
            requiredConfirmations: number;
            credited: boolean;
          }[];
        };
        if (o.json) return print(JSON.stringify(payments, null, 2));
        for (const payment of payments) {
          print(
            `${payment.txid}:${payment.vout}  ${String(payment.sats).padStart(10)} sats  ${(payment.ownerId ?? '-').padEnd(26)} ${payment.state} ${payment.confirmations}/${payment.requiredConfirmations}${payment.credited ? ' credited' : ''}`,
          );
        }
      }),
    );

  const invoice = program.command('invoice').description('bitcoin invoices for an amount in the space currency');
  invoice
    .command('create <amount>')
    .description('an invoice for an amount like 3.50: a fresh address, the rate locked, a QR code')
    .option('--member <memberId>', 'settles as a payment to this member')
    .option('--product <key>', 'settles as a sale of this product')
    .option('--memo <text>', 'shown in the payer’s wallet')
    .option('--key <idempotencyKey>', 'running the command again with the same key returns the same invoice')
    .option('--qr <stem>', 'write the QR code to <stem>.svg and <stem>.png')
    .action((amount: string, o: { member?: string; product?: string; memo?: string; key?: string; qr?: string }, c: Command) =>
      onBus(c, async (bus) => {
        const { invoice: created } = (await bus.request(InvoiceCreate, {
          cents: parseAmountToCents(amount),
          ...(o.member !== undefined ? { memberId: o.member } : {}),
          ...(o.product !== undefined ? { product: o.product } : {}),
          ...(o.memo !== undefined ? { memo: o.memo } : {}),
          ...(o.key !== undefined ? { idempotencyKey: o.key } : {}),
        })) as { invoice: Invoice };
        print(describeInvoice(created));
        if (o.qr !== undefined) writeQr(created, o.qr);
      }),
    );
  invoice
    .command('show <id>')
    .description('one invoice as it stands')
    .option('--qr <stem>', 'write the QR code to <stem>.svg and <stem>.png')
    .action((id: string, o: { qr?: string }, c: Command) =>
      onBus(c, async (bus) => {
        const { invoice: found } = (await bus.request(InvoiceGet, { id })) as { invoice: Invoice };
        print(describeInvoice(found));
        if (o.qr !== undefined) writeQr(found, o.qr);
      }),
    );
  invoice
    .command('list')
    .description('recent invoices')
    .option('--member <memberId>', 'one member’s')
    .action((o: { member?: string }, c: Command) =>
      onBus(c, async (bus) => {
        const { invoices } = (await bus.request(InvoiceList, o.member ? { memberId: o.member } : {})) as { invoices: Invoice[] };
        for (const one of invoices) print(describeInvoice(one));
      }),
    );

  program
    .command('price')
    .description('the bitcoin rate the PriceNotifier quotes now, and from which sources')
    .action((_o: unknown, c: Command) =>
      onBus(c, async (bus) => {
        const rate = (await bus.request(PriceQuote, {})) as {
          currency: string;
          centsPerBtc: number;
          ageMs: number;
          source: string;
          used: { name: string }[];
        };
        print(
          `1 BTC = ${formatCents(rate.centsPerBtc)} ${rate.currency} (${rate.source}; ${Math.round(rate.ageMs / 1000)} s old; from ${rate.used.map((source) => source.name).join(', ')})`,
        );
      }),
    );
}
