// ChainAdaptor: one interface over the bitcoin data providers. It is a library, not a bus service: blocks are
// megabytes and a notifier needs them at local speed, so services that need the chain use it in-process.
import type { Config } from '../core/config.js';
import { BitcoinCoreAdaptor } from './bitcoin-core.js';
import { ElectrumAdaptor } from './electrum.js';
import { EsploraAdaptor } from './esplora.js';
import { SimulatedChain } from './simulated.js';
import type { ChainAdaptor } from './types.js';

export type { ChainAdaptor, ChainBlock, ChainTip, ChainTx, NetworkName, TxInput, TxOutput } from './types.js';
export { ChainAdaptorError, ChainAdaptorErrorCodes } from './errors.js';
export { BitcoinCoreAdaptor } from './bitcoin-core.js';
export { EsploraAdaptor, GENESIS_HASHES } from './esplora.js';
export {
  ElectrumAdaptor,
  scriptHash,
  type ElectrumOptions,
  type ScriptHistoryEntry,
  type ScriptStatusListener,
  type ScriptSubscription,
} from './electrum.js';
export { SimulatedChain, type Outpoint } from './simulated.js';
export { merkleRoot, parseBlock, parseTransaction } from './raw.js';

/** The provider `chain.provider` names, for `chain.network`. */
export function createChainAdaptor(config: Config): ChainAdaptor {
  const { chain } = config;
  switch (chain.provider) {
    case 'simulated':
      return new SimulatedChain(chain.network);
    case 'bitcoin-core':
      return new BitcoinCoreAdaptor({ ...chain.bitcoinCore, network: chain.network });
    case 'esplora':
      return new EsploraAdaptor({ ...chain.esplora, network: chain.network });
    case 'electrum':
      return new ElectrumAdaptor({ ...chain.electrum, network: chain.network });
  }
}
