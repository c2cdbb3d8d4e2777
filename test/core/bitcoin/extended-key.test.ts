// Extended public keys against the BIP 32 test vectors 1-5: parse, refuse, and derive the same children as the xprv.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { HDKey } from '@scure/bip32';
import { hex } from '@scure/base';
import { p2pkh } from '@scure/btc-signer';
import { NETWORKS, parseDescriptor, parseExtendedPublicKey } from '../../../src/core/bitcoin/index.js';

const vectors = JSON.parse(readFileSync(new URL('../../vectors/bitcoin/bip32.json', import.meta.url), 'utf8')) as {
  valid: { id: string; seed: string; chains: { path: string; xpub: string; xprv: string }[] }[];
  invalid: { id: string; key: string; reason: string; code: string }[];
};

const TESTNET_VERSIONS = { public: 0x043587cf, private: 0x04358394 };
const ZPUB_VERSIONS = { public: 0x04b24746, private: 0x04b2430c };

describe('BIP 32 test vectors 1-4: each chain parsed from its xpub derives what its xprv derives', () => {
  for (const vector of vectors.valid) {
    const master = HDKey.fromMasterSeed(hex.decode(vector.seed));
    for (const chain of vector.chains) {
      test(`${vector.id} ${chain.path}`, () => {
        const fromSeed = master.derive(chain.path);
        assert.equal(fromSeed.publicExtendedKey, chain.xpub, 'the library reproduces the vector');
        assert.equal(fromSeed.privateExtendedKey, chain.xprv);

        const key = parseExtendedPublicKey(chain.xpub, NETWORKS.mainnet);
        assert.equal(key.prefix, 'xpub');
        assert.equal(key.impliedScript, 'any');
        assert.equal(key.plainText, chain.xpub);
        assert.equal(key.depth, fromSeed.depth);
        assert.equal(key.childIndex, fromSeed.index);
        assert.equal(key.parentFingerprint, fromSeed.parentFingerprint);
        assert.equal(key.fingerprint, fromSeed.fingerprint);
        assert.deepEqual(key.publicKey, fromSeed.publicKey);

        // Public derivation here; private derivation (another code path of the library) in the expectation.
        const descriptor = parseDescriptor(`pkh(${chain.xpub}/<0;1>/*)`, NETWORKS.mainnet);
        for (const branch of [0, 1]) {
          for (const index of [0, 1, 2, 1000]) {
            const expectedKey = fromSeed.deriveChild(branch).deriveChild(index).publicKey!;
            const output = descriptor.derive(branch, index);
            assert.deepEqual(output.keyOrigins[0]!.pubkey, expectedKey, `${branch}/${index}`);
            assert.deepEqual(output.keyOrigins[0]!.path, [branch, index]);
            assert.equal(output.keyOrigins[0]!.fingerprint, fromSeed.fingerprint);
            assert.equal(output.address, p2pkh(expectedKey).address);
          }
        }
      });
    }
  }
});

describe('BIP 32 test vector 5: invalid extended keys are refused', () => {
  for (const vector of vectors.invalid) {
    test(`${vector.id}: ${vector.reason} → ${vector.code}`, () => {
      assert.throws(() => parseExtendedPublicKey(vector.key, NETWORKS.mainnet), { code: vector.code });
    });
  }
});

describe('hostile and mistaken extended keys', () => {
  const xpub = vectors.valid[0]!.chains[1]!.xpub;
  const xprv = vectors.valid[0]!.chains[1]!.xprv;
  const tpub = HDKey.fromMasterSeed(hex.decode(vectors.valid[0]!.seed), TESTNET_VERSIONS).derive("m/0'").publicExtendedKey;

  test('a changed character fails the base58 checksum', () => {
    const typo = xpub.slice(0, 50) + (xpub[50] === 'a' ? 'b' : 'a') + xpub.slice(51);
    assert.throws(() => parseExtendedPublicKey(typo, NETWORKS.mainnet), { code: 'BITCOIN_XPUB_INVALID', message: /checksum/ });
  });

  test('garbage, an empty string and a truncated key are invalid', () => {
    for (const text of ['', 'hello', '0OIl', xpub.slice(0, 60), `${xpub}${xpub}`]) {
      assert.throws(() => parseExtendedPublicKey(text, NETWORKS.mainnet), { code: 'BITCOIN_XPUB_INVALID' }, text);
    }
  });

  test('an xprv is refused, and its text is not echoed', () => {
    assert.throws(
      () => parseExtendedPublicKey(xprv, NETWORKS.mainnet),
      (error: Error & { code: string }) =>
        error.code === 'BITCOIN_PRIVATE_KEY_REFUSED' &&
        /no private key belongs on the server/.test(error.message) &&
        !error.message.includes(xprv.slice(4, 20)),
    );
  });

  test('a tprv is refused on testnet too', () => {
    const tprv = HDKey.fromMasterSeed(hex.decode(vectors.valid[0]!.seed), TESTNET_VERSIONS).privateExtendedKey;
    assert.throws(() => parseExtendedPublicKey(tprv, NETWORKS.testnet), { code: 'BITCOIN_PRIVATE_KEY_REFUSED' });
  });

  test('a tpub on mainnet and an xpub on testnet, signet or regtest are the wrong network', () => {
    assert.throws(() => parseExtendedPublicKey(tpub, NETWORKS.mainnet), {
      code: 'BITCOIN_XPUB_WRONG_NETWORK',
      message: /tpub is a key for testnet\/signet\/regtest, but this server is on mainnet/,
    });
    for (const network of [NETWORKS.testnet, NETWORKS.signet, NETWORKS.regtest]) {
      assert.throws(() => parseExtendedPublicKey(xpub, network), { code: 'BITCOIN_XPUB_WRONG_NETWORK' }, network.name);
    }
  });

  test('a tpub parses on testnet, signet and regtest', () => {
    for (const network of [NETWORKS.testnet, NETWORKS.signet, NETWORKS.regtest]) {
      assert.equal(parseExtendedPublicKey(tpub, network).prefix, 'tpub');
    }
  });

  test('a zpub is the same key as the xpub of its zprv, and says wpkh', () => {
    const account = HDKey.fromMasterSeed(hex.decode(vectors.valid[1]!.seed), ZPUB_VERSIONS).derive("m/84'/0'/0'");
    const key = parseExtendedPublicKey(account.publicExtendedKey, NETWORKS.mainnet);
    assert.equal(key.prefix, 'zpub');
    assert.equal(key.impliedScript, 'wpkh');
    assert.equal(key.plainText, HDKey.fromMasterSeed(hex.decode(vectors.valid[1]!.seed)).derive("m/84'/0'/0'").publicExtendedKey);
  });
});
