// Output scripts for tests: what a member's deposit address would have.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh } from '@scure/btc-signer';

/** P2WPKH of a public key made from `seed`; the same seed, the same script. */
export function paymentScript(seed: number): Uint8Array {
  return p2wpkh(
    secp256k1.getPublicKey(
      Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? seed : 1)),
      true,
    ),
  ).script;
}
