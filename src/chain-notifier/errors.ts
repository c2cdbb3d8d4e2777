// ChainNotifier error codes: what stops payments being watched or credited, and invoices being made.
import { errorClass } from '../core/errors.js';

export const ChainNotifierErrorCodes = {
  CHAIN_NOTIFIER_DEEP_REORG:
    'The chain reorganised deeper than chainNotifier.reorgLimit: the notifier stops and changes nothing until an operator checks the node.',
  CHAIN_NOTIFIER_CONFIG_INVALID: 'The deposit descriptor or chain settings are missing or wrong; the message names the key.',
  CHAIN_NOTIFIER_NOT_ALLOWED:
    'Only chainNotifier.addressReaders may ask for a member deposit address, and only chainNotifier.invoices.creators may create invoices.',
  CHAIN_NOTIFIER_NO_RATE:
    'No invoice was made: the PriceNotifier had no fresh rate to lock (its code and reason are in the message). Fix its sources or try again; a rate is never made up.',
  CHAIN_NOTIFIER_INVOICE_INVALID:
    'The invoice request names an unknown member or product, or both at once; give one (or neither) that BusinessData or MemberData knows.',
  CHAIN_NOTIFIER_INVOICE_CONFLICT:
    'An idempotency key was used again with another amount, member, product or memo; a retry must repeat the first request exactly, or use a new key.',
  CHAIN_NOTIFIER_INVOICE_NOT_FOUND: 'No invoice has this id.',
  CHAIN_NOTIFIER_UPSTREAM_UNAVAILABLE:
    'BusinessData or MemberData did not answer while an invoice was being made; nothing was made: try again when they run.',
  CHAIN_NOTIFIER_MEMBER_UNKNOWN: 'Deposit addresses are only for members MemberData knows; the message names the id asked for.',
} as const;

export const ChainNotifierError = errorClass('ChainNotifierError', ChainNotifierErrorCodes);
export type ChainNotifierError = InstanceType<typeof ChainNotifierError>;
