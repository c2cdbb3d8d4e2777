// The 2-of-3 test wallet (three seeds, m/48'/1'/0'/2', wsh sortedmulti on regtest) and its co-signers, signing with
// @scure/btc-signer or with bitcoinjs-lib (the interop a hardware or desktop wallet stands for).
import { sha256 } from '@noble/hashes/sha2.js';
import * as ecc from '@bitcoinerlab/secp256k1';
import { HDKey } from '@scure/bip32';
import { Transaction } from '@scure/btc-signer';
import { Psbt, type HDSigner } from 'bitcoinjs-lib';
import { addressFromScript, networkByName, parseDescriptor, type OutputDescriptor } from '../../src/core/bitcoin/index.js';

/** tprv/tpub version bytes (testnet, signet and regtest share them). */
export const TEST_VERSIONS = { private: 0x04358394, public: 0x043587cf };
export const ACCOUNT_PATH = "m/48'/1'/0'/2'";

export interface Cosigner {
  master: HDKey;
  account: HDKey;
  /** 8 hex digits, as in a descriptor's key origin. */
  fingerprint: string;
  tpub: string;
}

/** A deterministic co-signer from a label: the seed is SHA-256 of it, so tests are repeatable. */
export function makeCosigner(label: string): Cosigner {
  const master = HDKey.fromMasterSeed(sha256(new TextEncoder().encode(`dctrl-os payout test ${label}`)), TEST_VERSIONS);
  const account = master.derive(ACCOUNT_PATH);
  return {
    master,
    account,
    fingerprint: master.fingerprint.toString(16).padStart(8, '0'),
    tpub: account.publicExtendedKey,
  };
}

/** The three co-signers of the test wallet, and a fourth key that is none of them. */
export const COSIGNERS: readonly Cosigner[] = Object.freeze(['cosigner 1', 'cosigner 2', 'cosigner 3'].map(makeCosigner));
export const OUTSIDER: Cosigner = makeCosigner('outsider');

/** `wsh(sortedmulti(2,[fp/48h/1h/0h/2h]tpub…/<0;1>/*,…))`: chain 0 receive, chain 1 change. */
export function testWalletDescriptorText(cosigners: readonly Cosigner[] = COSIGNERS, threshold = 2): string {
  const keys = cosigners.map((cosigner) => `[${cosigner.fingerprint}/48h/1h/0h/2h]${cosigner.tpub}/<0;1>/*`);
  return `wsh(sortedmulti(${threshold},${keys.join(',')}))`;
}

/** The test wallet's descriptor on regtest. */
export function testWallet(cosigners: readonly Cosigner[] = COSIGNERS, threshold = 2): OutputDescriptor {
  return parseDescriptor(testWalletDescriptorText(cosigners, threshold), networkByName('regtest'));
}

function formatStep(step: number): string {
  return step >= 0x80000000 ? `${step - 0x80000000}'` : String(step);
}

/** Co-signer k (0-based) signs every input it holds a key for, with @scure/btc-signer, found by BIP 32 derivation. */
export function signWithScure(psbt: Uint8Array, k: number): Uint8Array {
  const cosigner = COSIGNERS[k];
  if (!cosigner) throw new Error(`no co-signer ${k}`);
  const tx = Transaction.fromPSBT(psbt);
  let signed = 0;
  for (let index = 0; index < tx.inputsLength; index++) {
    for (const [, origin] of tx.getInput(index).bip32Derivation ?? []) {
      if (origin.fingerprint !== cosigner.master.fingerprint) continue;
      const key = cosigner.master.derive(`m/${origin.path.map(formatStep).join('/')}`).privateKey;
      if (key && tx.signIdx(key, index)) signed++;
    }
  }
  if (signed === 0) throw new Error(`co-signer ${k} found no input to sign`);
  return tx.toPSBT();
}

/** bitcoinjs-lib's HD signer interface over a @scure/bip32 key, signing with @bitcoinerlab/secp256k1 (RFC 6979). */
function hdSigner(node: HDKey, master: HDKey = node): HDSigner {
  const publicKey = node.publicKey;
  if (!publicKey) throw new Error('an HD signer needs a key');
  const fingerprint = new Uint8Array(4);
  new DataView(fingerprint.buffer).setUint32(0, master.fingerprint, false);
  return {
    publicKey,
    fingerprint,
    derivePath: (path: string) => hdSigner(node.derive(path), master),
    sign: (hash: Uint8Array) => {
      if (!node.privateKey) throw new Error('a watch-only key cannot sign');
      return ecc.sign(hash, node.privateKey);
    },
  };
}

/** Co-signer k (0-based) signs every input it holds a key for, with bitcoinjs-lib's signAllInputsHD. */
export function signWithBitcoinjs(psbt: Uint8Array, k: number): Uint8Array {
  const cosigner = COSIGNERS[k];
  if (!cosigner) throw new Error(`no co-signer ${k}`);
  const parsed = Psbt.fromBuffer(psbt);
  parsed.signAllInputsHD(hdSigner(cosigner.master));
  return parsed.toBuffer();
}

/** bitcoinjs-lib's check of every partial signature (ECDSA over its own BIP 143 sighash). */
export function validateWithBitcoinjs(psbt: Uint8Array): boolean {
  const parsed = Psbt.fromBuffer(psbt);
  return parsed.validateSignaturesOfAllInputs((pubkey, hash, signature) => ecc.verify(hash, pubkey, signature, true));
}

const PAYEES = makeCosigner('payees');

/** A regtest address outside the wallet, the n-th of its own: a P2WPKH of a throwaway key. */
export function payee(n: number): { script: Uint8Array; address: string } {
  const script = new Uint8Array([0x00, 0x14, ...PAYEES.master.deriveChild(n).identifier!]);
  return { script, address: addressFromScript(script, networkByName('regtest')) };
}
