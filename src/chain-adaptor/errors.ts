// ChainAdaptor error codes: what went wrong talking to a bitcoin node or indexer.
import { errorClass } from '../core/errors.js';

export const ChainAdaptorErrorCodes = {
  CHAIN_ADAPTOR_UNAVAILABLE:
    'The node or indexer did not answer (down, refused, timed out); nothing was lost, the caller retries.',
  CHAIN_ADAPTOR_RPC_ERROR: 'The node answered with an error; the message carries its code and text.',
  CHAIN_ADAPTOR_MALFORMED:
    'The provider answered with something that is not what its protocol documents (bad JSON, bad block bytes).',
  CHAIN_ADAPTOR_WRONG_NETWORK: 'The provider serves another network than chain.network; nothing is read from it.',
  CHAIN_ADAPTOR_NOT_FOUND: 'The provider has no such block or transaction (a reorg may have removed it).',
  CHAIN_ADAPTOR_CONFIG_INVALID:
    'The chain provider settings are incomplete (a URL, credentials); the message names what is missing.',
  CHAIN_ADAPTOR_UNSUPPORTED:
    'The provider cannot answer this call by its protocol (Electrum answers by script, not by block or whole mempool); watch scripts with it, or use Bitcoin Core or Esplora for blocks.',
} as const;

export const ChainAdaptorError = errorClass('ChainAdaptorError', ChainAdaptorErrorCodes);
export type ChainAdaptorError = InstanceType<typeof ChainAdaptorError>;
