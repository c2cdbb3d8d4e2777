// ChainNotifier error codes: what stops payments being watched or credited.
import { errorClass } from '../core/errors.js';

export const ChainNotifierErrorCodes = {
  CHAIN_NOTIFIER_DEEP_REORG:
    'The chain reorganised deeper than chainNotifier.reorgLimit: the notifier stops and changes nothing until an operator checks the node.',
  CHAIN_NOTIFIER_CONFIG_INVALID: 'The deposit descriptor or chain settings are missing or wrong; the message names the key.',
  CHAIN_NOTIFIER_NOT_ALLOWED: 'Only chainNotifier.addressReaders may ask for a member deposit address.',
} as const;

export const ChainNotifierError = errorClass('ChainNotifierError', ChainNotifierErrorCodes);
export type ChainNotifierError = InstanceType<typeof ChainNotifierError>;
