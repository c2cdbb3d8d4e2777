// BIP 44, 49, 84 and 86 account vectors (with SLIP-132's keys): the xpub/ypub/zpub shorthand and explicit descriptors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { HDKey } from '@scure/bip32';
import { hex } from '@scure/base';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import {
  descriptorFromExtendedKey,
  NETWORKS,
  parseDescriptor,
  parseExtendedPublicKey,
  type NetworkName,
  type SingleKeyScript,
} from '../../../src/core/bitcoin/index.js';

interface AccountVector {
  id: string;
  source: string;
  network: NetworkName;
  path: string;
  accountKey: string;
  accountPrivateKey?: string;
  script: SingleKeyScript;
  addresses: {
    chain: number;
    index: number;
    address: string;
    pubkey?: string;
    redeemScript?: string;
    internalKey?: string;
    scriptPubKey?: string;
  }[];
}

const vectors = JSON.parse(readFileSync(new URL('../../vectors/bitcoin/wallet-accounts.json', import.meta.url), 'utf8')) as {
  mnemonic: string;
  rootXpub: string;
  accounts: AccountVector[];
};

/** BIP 39: the seed is PBKDF2-HMAC-SHA512 of the mnemonic, salt "mnemonic" + passphrase (empty), 2048 rounds. */
function seedFromMnemonic(mnemonic: string): Uint8Array {
  return pbkdf2(sha512, utf8ToBytes(mnemonic.normalize('NFKD')), utf8ToBytes('mnemonic'), { c: 2048, dkLen: 64 });
}

const root = HDKey.fromMasterSeed(seedFromMnemonic(vectors.mnemonic));
const TEST_VERSIONS = { public: 0x043587cf, private: 0x04358394 };

/** A plain xpub needs the script named; ypub/zpub/upub name their own. */
function shorthandScript(account: AccountVector): SingleKeyScript | undefined {
  return account.accountKey.startsWith('xpub') || account.accountKey.startsWith('tpub') ? account.script : undefined;
}

test('the mnemonic gives BIP 86’s root xpub (so the account keys below are computed from the right seed)', () => {
  assert.equal(root.publicExtendedKey, vectors.rootXpub);
});

describe('account vectors', () => {
  for (const account of vectors.accounts) {
    const network = NETWORKS[account.network];

    test(`${account.id}: the account key is the one the mnemonic gives at ${account.path}`, () => {
      const testRoot =
        account.network === 'mainnet' ? root : HDKey.fromMasterSeed(seedFromMnemonic(vectors.mnemonic), TEST_VERSIONS);
      const plain = testRoot.derive(account.path).publicExtendedKey;
      assert.equal(parseExtendedPublicKey(account.accountKey, network).plainText, plain);
    });

    test(`${account.id}: shorthand ${account.accountKey.slice(0, 4)} → ${account.script}, addresses from ${account.source.split(' ')[0]}`, () => {
      const descriptor = descriptorFromExtendedKey(account.accountKey, network, shorthandScript(account));
      assert.equal(descriptor.script, account.script);
      assert.equal(descriptor.chainCount, 2);
      for (const expected of account.addresses) {
        const output = descriptor.derive(expected.chain, expected.index);
        assert.equal(output.address, expected.address, `${expected.chain}/${expected.index}`);
        if (expected.pubkey) assert.equal(hex.encode(output.keyOrigins[0]!.pubkey), expected.pubkey);
        if (expected.redeemScript) assert.equal(hex.encode(output.redeemScript!), expected.redeemScript);
        if (expected.internalKey) assert.equal(hex.encode(output.taprootInternalKey!), expected.internalKey);
        if (expected.scriptPubKey) assert.equal(output.scriptHex, expected.scriptPubKey);
      }
    });

    test(`${account.id}: the same addresses from an explicit descriptor with key origin`, () => {
      const plainKey = parseExtendedPublicKey(account.accountKey, network).plainText;
      const origin = `[${root.fingerprint.toString(16).padStart(8, '0')}/${account.path.slice(2).replaceAll("'", 'h')}]`;
      const key = `${origin}${plainKey}/<0;1>/*`;
      const text = account.script === 'sh(wpkh)' ? `sh(wpkh(${key}))` : `${account.script}(${key})`;
      const descriptor = parseDescriptor(text, network);
      for (const expected of account.addresses) {
        const output = descriptor.derive(expected.chain, expected.index);
        assert.equal(output.address, expected.address);
        const accountPath = account.path
          .slice(2)
          .split('/')
          .map((step) => Number.parseInt(step, 10) + 0x80000000);
        assert.deepEqual(output.keyOrigins[0]!.path, [...accountPath, expected.chain, expected.index]);
        assert.equal(output.keyOrigins[0]!.fingerprint, root.fingerprint);
      }
    });
  }
});

test('BIP 84: the SLIP-132 zpub is the public key of BIP 84’s account zprv', () => {
  const bip84 = vectors.accounts.find((account) => account.id === 'bip84-account0')!;
  const zpubVersions = { public: 0x04b24746, private: 0x04b2430c };
  assert.equal(HDKey.fromExtendedKey(bip84.accountPrivateKey!, zpubVersions).publicExtendedKey, bip84.accountKey);
});

test('a plain xpub alone is refused until the caller names the script', () => {
  const bip44 = vectors.accounts.find((account) => account.id === 'bip44-slip132-account0')!;
  assert.throws(() => descriptorFromExtendedKey(bip44.accountKey, NETWORKS.mainnet), { code: 'BITCOIN_XPUB_SCRIPT_UNKNOWN' });
  assert.throws(() => parseDescriptor(bip44.accountKey, NETWORKS.mainnet), { code: 'BITCOIN_XPUB_SCRIPT_UNKNOWN' });
});

test('a zpub asked to be read as pkh is a mismatch', () => {
  const bip84 = vectors.accounts.find((account) => account.id === 'bip84-account0')!;
  assert.throws(() => descriptorFromExtendedKey(bip84.accountKey, NETWORKS.mainnet, 'pkh'), {
    code: 'BITCOIN_XPUB_SCRIPT_MISMATCH',
  });
});

test('the shorthand mapping is written out as Bitcoin Core descriptors with plain xpubs', () => {
  const bip84 = vectors.accounts.find((account) => account.id === 'bip84-account0')!;
  const bip49 = vectors.accounts.find((account) => account.id === 'bip49-testnet-account0')!;
  const wpkh = descriptorFromExtendedKey(bip84.accountKey, NETWORKS.mainnet);
  assert.match(wpkh.text, /^wpkh\(xpub[1-9A-HJ-NP-Za-km-z]+\/<0;1>\/\*\)#[a-z0-9]{8}$/);
  assert.match(wpkh.chainDescriptor(0), /^wpkh\(xpub[1-9A-HJ-NP-Za-km-z]+\/0\/\*\)#[a-z0-9]{8}$/);
  assert.match(wpkh.chainDescriptor(1), /^wpkh\(xpub[1-9A-HJ-NP-Za-km-z]+\/1\/\*\)#[a-z0-9]{8}$/);
  const shWpkh = descriptorFromExtendedKey(bip49.accountKey, NETWORKS.testnet);
  assert.match(shWpkh.text, /^sh\(wpkh\(tpub[1-9A-HJ-NP-Za-km-z]+\/<0;1>\/\*\)\)#[a-z0-9]{8}$/);
  // The written text parses back to the same descriptor.
  assert.equal(parseDescriptor(wpkh.text, NETWORKS.mainnet).text, wpkh.text);
  assert.equal(parseDescriptor(wpkh.chainDescriptor(1), NETWORKS.mainnet).derive(0, 0).address, wpkh.derive(1, 0).address);
});
