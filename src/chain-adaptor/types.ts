// What every bitcoin data provider answers, whichever it is: the same blocks, transactions and fees.

export type NetworkName = 'mainnet' | 'testnet' | 'signet' | 'regtest';

export interface TxInput {
  /** The transaction and output this input spends; all zeros and 0xffffffff for a coinbase. */
  prevTxid: string;
  prevVout: number;
}

export interface TxOutput {
  /** Satoshis; at most 21 million bitcoin, so always an exact number. */
  value: number;
  script: Uint8Array;
}

export interface ChainTx {
  txid: string;
  inputs: TxInput[];
  outputs: TxOutput[];
  /** The transaction's bytes as the provider sent them (with witness), when it was read from bytes. */
  raw?: Uint8Array;
}

export interface ChainBlock {
  hash: string;
  prevHash: string;
  height: number;
  /** Block header time, seconds since the epoch (as miners set it: not a clock to trust). */
  time: number;
  txs: ChainTx[];
}

export interface ChainTip {
  height: number;
  hash: string;
}

export interface ChainAdaptor {
  /** Which provider this is, for logs and errors ("bitcoin-core http://127.0.0.1:18443"). */
  readonly description: string;
  readonly network: NetworkName;
  /** Checks the provider serves the configured network. @throws ChainAdaptorError CHAIN_ADAPTOR_WRONG_NETWORK. */
  connect(): Promise<void>;
  tip(): Promise<ChainTip>;
  blockHash(height: number): Promise<string>;
  /** The block with its height. @throws ChainAdaptorError CHAIN_ADAPTOR_NOT_FOUND when the provider has no such block. */
  block(hash: string): Promise<ChainBlock>;
  /** A transaction in the mempool or (where the provider indexes them) in a block; undefined when unknown. */
  transaction(txid: string): Promise<ChainTx | undefined>;
  /** The txids waiting in the mempool. */
  mempool(): Promise<string[]>;
  /** Sends a signed transaction; returns its txid. */
  broadcast(rawTxHex: string): Promise<string>;
  /** Fee rate in sat/vB to confirm within `targetBlocks`, or undefined when the provider has no estimate yet. */
  estimateFee(targetBlocks: number): Promise<number | undefined>;
  close(): Promise<void>;
}
