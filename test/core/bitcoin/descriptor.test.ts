// Output descriptors: BIP 380 checksums, BIP 382/383/389 derivations, the payout multisig, regtest, and refusals.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { HDKey } from '@scure/bip32';
import { hex } from '@scure/base';
import { p2sh, p2tr, p2wpkh, sortedMultisig } from '@scure/btc-signer';
import {
  descriptorChecksum,
  formatKeyOrigin,
  NETWORKS,
  parseDescriptor,
  verifyDescriptorChecksum,
  withDescriptorChecksum,
} from '../../../src/core/bitcoin/index.js';

const vectors = JSON.parse(readFileSync(new URL('../../vectors/bitcoin/descriptors.json', import.meta.url), 'utf8')) as {
  checksums: {
    valid: { id: string; descriptor: string }[];
    noChecksum: { id: string; descriptor: string; checksum: string }[];
    invalid: { id: string; descriptor: string; code: string }[];
  };
  derivations: {
    id: string;
    descriptor: string;
    chain: number;
    expandsTo?: string;
    scripts?: string[];
    witnessScripts?: string[];
  }[];
  invalid: { id: string; descriptor: string; code: string }[];
};
const bip32 = JSON.parse(readFileSync(new URL('../../vectors/bitcoin/bip32.json', import.meta.url), 'utf8')) as {
  valid: { seed: string }[];
};

const HARDENED = 0x80000000;
const TEST_VERSIONS = { public: 0x043587cf, private: 0x04358394 };
// Written out here rather than taken from src, so the regtest expectation is independent of networks.ts.
const REGTEST_FOR_BTC_SIGNER = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };

describe('BIP 380 checksum vectors', () => {
  for (const vector of vectors.checksums.valid) {
    test(`${vector.id}: ${vector.descriptor} verifies`, () => {
      assert.equal(verifyDescriptorChecksum(vector.descriptor), vector.descriptor.split('#')[0]);
    });
  }
  for (const vector of vectors.checksums.noChecksum) {
    test(`${vector.id}: ${vector.descriptor} is accepted without one, and its checksum is ${vector.checksum}`, () => {
      assert.equal(verifyDescriptorChecksum(vector.descriptor), vector.descriptor);
      assert.equal(descriptorChecksum(vector.descriptor), vector.checksum);
      assert.equal(withDescriptorChecksum(vector.descriptor), `${vector.descriptor}#${vector.checksum}`);
    });
  }
  for (const vector of vectors.checksums.invalid) {
    test(`${vector.id}: ${vector.descriptor} → ${vector.code}`, () => {
      assert.throws(() => verifyDescriptorChecksum(vector.descriptor), { code: vector.code });
    });
  }
  test('a bad checksum on a real descriptor is refused without revealing the right one', () => {
    const text = withDescriptorChecksum(vectors.derivations[0]!.descriptor);
    const right = text.slice(-8);
    const wrong = text.slice(0, -1) + (text.endsWith('q') ? 'p' : 'q');
    assert.throws(
      () => parseDescriptor(wrong, NETWORKS.mainnet),
      (error: Error & { code: string }) => error.code === 'BITCOIN_DESCRIPTOR_CHECKSUM' && !error.message.includes(right),
    );
    assert.equal(parseDescriptor(text, NETWORKS.mainnet).derive(0, 0).scriptHex, vectors.derivations[0]!.scripts![0]);
  });
});

describe('BIP 382, 383 and 389 derivation vectors', () => {
  for (const vector of vectors.derivations) {
    test(`${vector.id}: indices 0, 1, 2`, () => {
      const descriptor = parseDescriptor(vector.descriptor, NETWORKS.mainnet);
      vector.scripts?.forEach((script, index) => assert.equal(descriptor.derive(vector.chain, index).scriptHex, script));
      vector.witnessScripts?.forEach((script, index) => {
        const output = descriptor.derive(vector.chain, index);
        assert.equal(hex.encode(output.witnessScript!), script);
      });
      if (vector.expandsTo) {
        assert.equal(descriptor.chainDescriptor(vector.chain), withDescriptorChecksum(vector.expandsTo));
      }
    });
  }
  test('bip389: the second chain of /<1;3>/2/* is /3/2/*', () => {
    const [, multipath] = vectors.derivations;
    const descriptor = parseDescriptor(multipath!.descriptor, NETWORKS.mainnet);
    const second = parseDescriptor(multipath!.descriptor.replace('<1;3>', '3'), NETWORKS.mainnet);
    assert.equal(descriptor.chainCount, 2);
    assert.equal(descriptor.derive(1, 7).scriptHex, second.derive(0, 7).scriptHex);
    assert.deepEqual(descriptor.derive(1, 7).keyOrigins[0]!.path, [13 + HARDENED, 3, 2, 7]);
  });
});

describe('the payout multisig: wsh(sortedmulti(2, three cosigners with key origins))', () => {
  // Three cosigners, each a BIP 48 account m/48'/0'/0'/2' of one of the BIP 32 vector seeds.
  const cosigners = bip32.valid.slice(0, 3).map((vector) => {
    const master = HDKey.fromMasterSeed(hex.decode(vector.seed));
    const account = master.derive("m/48'/0'/0'/2'");
    return { master, account, origin: `[${master.fingerprint.toString(16).padStart(8, '0')}/48h/0h/0h/2h]` };
  });
  const keys = cosigners.map((cosigner) => `${cosigner.origin}${cosigner.account.publicExtendedKey}/<0;1>/*`);
  const text = `wsh(sortedmulti(2,${keys.join(',')}))`;

  test('scripts, addresses and witness scripts match btc-signer’s sortedMultisig of the privately derived keys', () => {
    const descriptor = parseDescriptor(text, NETWORKS.mainnet);
    assert.equal(descriptor.script, 'wsh(multi)');
    assert.equal(descriptor.threshold, 2);
    for (const chain of [0, 1]) {
      for (const index of [0, 1, 2, 99]) {
        const pubkeys = cosigners.map((cosigner) => cosigner.account.deriveChild(chain).deriveChild(index).publicKey!);
        const expected = sortedMultisig(2, pubkeys, true);
        const output = descriptor.derive(chain, index);
        assert.equal(output.scriptHex, hex.encode(expected.script));
        assert.equal(output.address, expected.address);
        assert.deepEqual(output.witnessScript, expected.witnessScript);
        assert.match(output.address, /^bc1q[a-z0-9]{58}$/);
      }
    }
  });

  test('each key keeps its origin (fingerprint and full path) for a PSBT’s bip32Derivation', () => {
    const output = parseDescriptor(text, NETWORKS.mainnet).derive(1, 5);
    assert.equal(output.keyOrigins.length, 3);
    output.keyOrigins.forEach((origin, position) => {
      const cosigner = cosigners[position]!;
      assert.equal(origin.fingerprint, cosigner.master.fingerprint);
      assert.deepEqual(origin.path, [48 + HARDENED, HARDENED, HARDENED, 2 + HARDENED, 1, 5]);
      assert.deepEqual(origin.pubkey, cosigner.master.derive("m/48'/0'/0'/2'/1/5").publicKey);
      assert.equal(formatKeyOrigin(origin), `${cosigner.origin.slice(0, -1)}/1/5]`);
    });
  });

  test('sh(wsh(sortedmulti)) nests the same witness script in P2SH', () => {
    const descriptor = parseDescriptor(`sh(${text})`, NETWORKS.mainnet);
    const pubkeys = cosigners.map((cosigner) => cosigner.account.deriveChild(0).deriveChild(3).publicKey!);
    const witness = sortedMultisig(2, pubkeys, true);
    const expected = p2sh(witness);
    const output = descriptor.derive(0, 3);
    assert.equal(output.address, expected.address);
    assert.deepEqual(output.redeemScript, expected.redeemScript);
    assert.deepEqual(output.witnessScript, witness.witnessScript);
  });

  test('the text is written back canonically with its checksum, and a checksum given is verified', () => {
    const descriptor = parseDescriptor(text, NETWORKS.mainnet);
    assert.equal(descriptor.text, withDescriptorChecksum(text));
    assert.equal(parseDescriptor(descriptor.text, NETWORKS.mainnet).derive(0, 0).address, descriptor.derive(0, 0).address);
    assert.equal(descriptor.chainDescriptor(1), withDescriptorChecksum(text.replaceAll('<0;1>', '1')));
  });

  test('multi (unsorted) keeps the written order', () => {
    const descriptor = parseDescriptor(text.replace('sortedmulti', 'multi'), NETWORKS.mainnet);
    const pubkeys = cosigners.map((cosigner) => cosigner.account.deriveChild(0).deriveChild(0).publicKey!);
    const witness = descriptor.derive(0, 0).witnessScript!;
    // OP_2, then each key as a 33-byte push in the descriptor's order.
    pubkeys.forEach((pubkey, position) => assert.deepEqual(witness.subarray(2 + position * 34, 2 + position * 34 + 33), pubkey));
  });
});

describe('test networks', () => {
  const master = HDKey.fromMasterSeed(hex.decode(bip32.valid[0]!.seed), TEST_VERSIONS);
  const account = master.derive("m/84'/1'/0'");

  test('regtest wpkh addresses are bcrt1q…, matching btc-signer with a regtest network written out here', () => {
    const descriptor = parseDescriptor(`wpkh(${account.publicExtendedKey}/<0;1>/*)`, NETWORKS.regtest);
    for (const index of [0, 1, 2]) {
      const expected = p2wpkh(account.deriveChild(0).deriveChild(index).publicKey!, REGTEST_FOR_BTC_SIGNER).address;
      assert.equal(descriptor.derive(0, index).address, expected);
      assert.match(expected, /^bcrt1q/);
    }
  });

  test('regtest tr addresses are bcrt1p…', () => {
    const descriptor = parseDescriptor(`tr(${master.derive("m/86'/1'/0'").publicExtendedKey}/<0;1>/*)`, NETWORKS.regtest);
    const internal = master.derive("m/86'/1'/0'/1/4").publicKey!.subarray(1);
    assert.equal(descriptor.derive(1, 4).address, p2tr(internal, undefined, REGTEST_FOR_BTC_SIGNER).address);
    assert.match(descriptor.derive(1, 4).address, /^bcrt1p/);
  });

  test('testnet and signet give the same tb1 address for the same index', () => {
    const testnet = parseDescriptor(`wpkh(${account.publicExtendedKey}/0/*)`, NETWORKS.testnet).derive(0, 0).address;
    const signet = parseDescriptor(`wpkh(${account.publicExtendedKey}/0/*)`, NETWORKS.signet).derive(0, 0).address;
    assert.equal(testnet, signet);
    assert.match(testnet, /^tb1q/);
  });

  test('a tpub descriptor on mainnet is the wrong network', () => {
    assert.throws(() => parseDescriptor(`wpkh(${account.publicExtendedKey}/0/*)`, NETWORKS.mainnet), {
      code: 'BITCOIN_XPUB_WRONG_NETWORK',
    });
  });
});

describe('refused descriptors', () => {
  for (const vector of vectors.invalid) {
    test(`${vector.id} → ${vector.code}`, () => {
      assert.throws(() => parseDescriptor(vector.descriptor, NETWORKS.mainnet), { code: vector.code });
    });
  }
  test('a refused private key is never echoed in the message', () => {
    for (const vector of vectors.invalid.filter((entry) => entry.code === 'BITCOIN_PRIVATE_KEY_REFUSED')) {
      const secret = /(?:xprv|L4rK)[1-9A-HJ-NP-Za-km-z]+/.exec(vector.descriptor)![0];
      assert.throws(
        () => parseDescriptor(vector.descriptor, NETWORKS.mainnet),
        (error: Error) => !error.message.includes(secret.slice(4, 16)),
      );
    }
  });
  test('empty text and text that is neither descriptor nor key', () => {
    assert.throws(() => parseDescriptor('', NETWORKS.mainnet), { code: 'BITCOIN_DESCRIPTOR_INVALID' });
    assert.throws(() => parseDescriptor('hello', NETWORKS.mainnet), { code: 'BITCOIN_DESCRIPTOR_INVALID' });
  });
  test('deep nesting and overlong text are refused before parsing', () => {
    assert.throws(() => parseDescriptor(`${'sh('.repeat(100)}wpkh(x)${')'.repeat(100)}`, NETWORKS.mainnet), {
      code: 'BITCOIN_DESCRIPTOR_INVALID',
      message: /nest deeper/,
    });
    assert.throws(() => parseDescriptor(`wpkh(${'1'.repeat(20_000)})`, NETWORKS.mainnet), {
      code: 'BITCOIN_DESCRIPTOR_INVALID',
      message: /characters long/,
    });
  });
  test('long input is cut short in messages', () => {
    const long = `wpkh(${'x'.repeat(5000)})`;
    assert.throws(
      () => parseDescriptor(long, NETWORKS.mainnet),
      (error: Error) => error.message.length < 400,
    );
  });
});

describe('derivation bounds', () => {
  const descriptor = parseDescriptor(vectors.derivations[1]!.descriptor, NETWORKS.mainnet);
  const singleChain = parseDescriptor(vectors.derivations[0]!.descriptor, NETWORKS.mainnet);

  test('a chain the descriptor lacks, a negative, fractional or hardened index are refused', () => {
    assert.throws(() => singleChain.derive(1, 0), { code: 'BITCOIN_DERIVATION_INVALID', message: /only chain 0/ });
    assert.throws(() => descriptor.derive(2, 0), { code: 'BITCOIN_DERIVATION_INVALID' });
    for (const index of [-1, 1.5, HARDENED, Number.NaN]) {
      assert.throws(() => descriptor.derive(0, index), { code: 'BITCOIN_DERIVATION_INVALID' }, String(index));
    }
  });

  test('deriveRange gives a..b inclusive, identical to one-by-one derivation', () => {
    const range = descriptor.deriveRange(0, 5, 24);
    assert.equal(range.length, 20);
    range.forEach((output, offset) => {
      assert.equal(output.index, 5 + offset);
      assert.equal(output.address, descriptor.derive(0, 5 + offset).address);
    });
    for (const [first, last] of [
      [5, 4],
      [Number.NaN, 3],
      [0, 200_000],
      [-1, 3],
    ] as const) {
      assert.throws(() => descriptor.deriveRange(0, first, last), { code: 'BITCOIN_DERIVATION_INVALID' }, `${first}..${last}`);
    }
  });

  test('every address of a range is distinct', () => {
    const addresses = descriptor.deriveRange(0, 0, 199).map((output) => output.address);
    assert.equal(new Set(addresses).size, 200);
  });
});

describe('speed (figures printed, not asserted)', () => {
  const accounts = bip32.valid
    .slice(0, 3)
    .map((vector) => HDKey.fromMasterSeed(hex.decode(vector.seed)).derive("m/48'/0'/0'/2'"));
  const [xpub, ...others] = accounts.map((account) => `${account.publicExtendedKey}/<0;1>/*`);
  const cases = {
    wpkh: `wpkh(${xpub})`,
    tr: `tr(${xpub})`,
    'wsh(sortedmulti(2-of-3))': `wsh(sortedmulti(2,${[xpub, ...others].join(',')}))`,
  };
  for (const [name, text] of Object.entries(cases)) {
    test(`${name}: 1,000 addresses from one descriptor`, (context) => {
      const descriptor = parseDescriptor(text, NETWORKS.mainnet);
      descriptor.deriveRange(0, 0, 49);
      const started = performance.now();
      const outputs = descriptor.deriveRange(0, 50, 1049);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(outputs.length, 1000);
      context.diagnostic(`${name}: ${Math.round(1000 / seconds)} addresses/s`);
    });
  }
});
