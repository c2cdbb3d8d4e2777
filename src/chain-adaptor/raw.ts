// Reads blocks and transactions in Bitcoin's wire format without copying: one pass, txids hashed from the
// byte ranges they cover. Written by hand for speed (a block of thousands of transactions is parsed per
// second of catch-up); checked against @scure/btc-signer in the tests.
import { createHash } from 'node:crypto';
import { ChainAdaptorError } from './errors.js';
import type { ChainTx, TxInput, TxOutput } from './types.js';

const HEADER_BYTES = 80;

class Reader {
  offset = 0;
  readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(count: number): void {
    if (this.offset + count > this.bytes.length) {
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_MALFORMED',
        `raw data ends at byte ${this.bytes.length}, ${count} more expected at ${this.offset}`,
      );
    }
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  u64AsNumber(): number {
    this.need(8);
    const low = this.view.getUint32(this.offset, true);
    const high = this.view.getUint32(this.offset + 4, true);
    this.offset += 8;
    if (high >= 0x200000)
      throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `an output value beyond 2^53 satoshis at byte ${this.offset - 8}`);
    return high * 0x1_0000_0000 + low;
  }

  compactSize(): number {
    this.need(1);
    const first = this.bytes[this.offset++]!;
    if (first < 0xfd) return first;
    if (first === 0xfd) {
      this.need(2);
      const value = this.view.getUint16(this.offset, true);
      this.offset += 2;
      return value;
    }
    if (first === 0xfe) return this.u32();
    const value = this.u64AsNumber();
    if (value > this.bytes.length)
      throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `a count of ${value} at byte ${this.offset - 9}`);
    return value;
  }

  slice(count: number): Uint8Array {
    this.need(count);
    const part = this.bytes.subarray(this.offset, this.offset + count);
    this.offset += count;
    return part;
  }

  skip(count: number): void {
    this.need(count);
    this.offset += count;
  }
}

/** Double SHA-256 of the parts, in the byte order ids are shown in (reversed). */
function hashId(...parts: Uint8Array[]): string {
  const first = createHash('sha256');
  for (const part of parts) first.update(part);
  const id = createHash('sha256').update(first.digest()).digest();
  return Buffer.from(id.reverse()).toString('hex');
}

/** The merkle root a block header commits to, from its txids (as shown, reversed), in wire byte order. */
export function merkleRoot(txids: readonly string[]): Buffer {
  const sha256d = (data: Uint8Array) => createHash('sha256').update(createHash('sha256').update(data).digest()).digest();
  let level: Buffer[] = txids.map((txid) => Buffer.from(txid, 'hex').reverse());
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let index = 0; index < level.length; index += 2) {
      next.push(sha256d(Buffer.concat([level[index]!, level[index + 1] ?? level[index]!])));
    }
    level = next;
  }
  return level[0]!;
}

function reversedHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).reverse().toString('hex');
}

function readTx(reader: Reader): ChainTx {
  const start = reader.offset;
  reader.skip(4);
  const segwit = reader.bytes[reader.offset] === 0 && reader.bytes[reader.offset + 1] === 1;
  if (segwit) reader.skip(2);
  const bodyStart = reader.offset;
  const inputCount = reader.compactSize();
  const inputs: TxInput[] = new Array<TxInput>(inputCount);
  for (let index = 0; index < inputCount; index++) {
    const prevTxid = reversedHex(reader.slice(32));
    const prevVout = reader.u32();
    reader.skip(reader.compactSize());
    reader.skip(4);
    inputs[index] = { prevTxid, prevVout };
  }
  const outputCount = reader.compactSize();
  const outputs: TxOutput[] = new Array<TxOutput>(outputCount);
  for (let index = 0; index < outputCount; index++) {
    const value = reader.u64AsNumber();
    outputs[index] = { value, script: reader.slice(reader.compactSize()) };
  }
  const bodyEnd = reader.offset;
  if (segwit) {
    for (let index = 0; index < inputCount; index++) {
      const items = reader.compactSize();
      for (let item = 0; item < items; item++) reader.skip(reader.compactSize());
    }
  }
  const lockTime = reader.slice(4);
  const txid = hashId(reader.bytes.subarray(start, start + 4), reader.bytes.subarray(bodyStart, bodyEnd), lockTime);
  return { txid, inputs, outputs, raw: reader.bytes.subarray(start, reader.offset) };
}

/** @throws ChainAdaptorError CHAIN_ADAPTOR_MALFORMED naming where the bytes stop making sense. */
export function parseTransaction(bytes: Uint8Array): ChainTx {
  const reader = new Reader(bytes);
  const tx = readTx(reader);
  if (reader.offset !== bytes.length) {
    throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${bytes.length - reader.offset} bytes left after the transaction`);
  }
  return tx;
}

/** A block's header fields and transactions; the height comes from whoever asked for it. */
export function parseBlock(
  bytes: Uint8Array,
  height: number,
): { hash: string; prevHash: string; height: number; time: number; txs: ChainTx[] } {
  const reader = new Reader(bytes);
  reader.need(HEADER_BYTES);
  const header = bytes.subarray(0, HEADER_BYTES);
  const hash = hashId(header);
  const prevHash = reversedHex(header.subarray(4, 36));
  const time = new DataView(bytes.buffer, bytes.byteOffset + 68, 4).getUint32(0, true);
  reader.offset = HEADER_BYTES;
  const count = reader.compactSize();
  const txs: ChainTx[] = new Array<ChainTx>(count);
  for (let index = 0; index < count; index++) txs[index] = readTx(reader);
  if (reader.offset !== bytes.length) {
    throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${bytes.length - reader.offset} bytes left after block ${hash}`);
  }
  return { hash, prevHash, height, time, txs };
}

/** The hex a provider sent, as bytes; refuses anything that is not even-length hex. */
export function hexBytes(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${what} is not hex`);
  }
  return Buffer.from(text, 'hex');
}
