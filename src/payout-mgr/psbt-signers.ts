// Reading a PSBT for people: whose signatures each input carries, what its unsigned transaction pays, and its txid.
import { Transaction } from '@scure/btc-signer';
import { hex } from '@scure/base';
import { addressFromScript, type BitcoinNetwork } from '../core/bitcoin/index.js';
import { PayoutMgrError } from './errors.js';

function parse(psbt: Uint8Array): Transaction {
  try {
    return Transaction.fromPSBT(psbt, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
  } catch (error) {
    throw new PayoutMgrError('PAYOUT_PSBT_MALFORMED', `not a PSBT that can be read: ${(error as Error).message}`);
  }
}

/** Per input, the public keys (hex) of the partial signatures it carries. */
export function psbtSigners(psbt: Uint8Array): string[][] {
  const tx = parse(psbt);
  const signers: string[][] = [];
  for (let index = 0; index < tx.inputsLength; index++) {
    signers.push((tx.getInput(index).partialSig ?? []).map(([pubkey]) => hex.encode(pubkey)));
  }
  return signers;
}

/** The unsigned transaction's outputs: script, sats and address. */
export function unsignedOutputs(
  psbt: Uint8Array,
  network: BitcoinNetwork,
): { scriptHex: string; sats: number; address: string }[] {
  const tx = parse(psbt);
  const outputs: { scriptHex: string; sats: number; address: string }[] = [];
  for (let index = 0; index < tx.outputsLength; index++) {
    const output = tx.getOutput(index);
    const script = output.script!;
    let address: string;
    try {
      address = addressFromScript(script, network);
    } catch {
      address = `script:${hex.encode(script)}`;
    }
    outputs.push({ scriptHex: hex.encode(script), sats: Number(output.amount!), address });
  }
  return outputs;
}

/** The txid of the unsigned transaction (the final txid: every input of the wallet is segwit). */
export function unsignedTxid(psbt: Uint8Array): string {
  return parse(psbt).id;
}
