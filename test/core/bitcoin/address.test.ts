// Addresses: BIP 350 vectors, base58 addresses from SLIP-132 and BIP 49, networks, and scripts back to addresses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { hex } from '@scure/base';
import { OutScript, p2pk, p2wpkh, sortedMultisig } from '@scure/btc-signer';
import {
  addressFromScript,
  isAddressFor,
  NETWORKS,
  networkByName,
  parseAddress,
  type NetworkName,
} from '../../../src/core/bitcoin/index.js';

const bip350 = JSON.parse(readFileSync(new URL('../../vectors/bitcoin/bip350-addresses.json', import.meta.url), 'utf8')) as {
  valid: { address: string; scriptPubKey: string; network: NetworkName; type: string }[];
  invalid: { address: string; reason: string; network: NetworkName }[];
};

// Base58 addresses published with their keys: SLIP-0132's test vectors (mainnet) and BIP 49's (testnet).
const SLIP132_P2PKH = '1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA';
const SLIP132_P2SH = '37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf';
const BIP49_TESTNET_P2SH = '2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2';
// BIP 84's first receiving public key, for a regtest address built here by btc-signer.
const BIP84_PUBKEY = hex.decode('0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c');
const REGTEST_FOR_BTC_SIGNER = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };

describe('BIP 350 valid segwit addresses', () => {
  for (const vector of bip350.valid) {
    test(`${vector.address} → ${vector.scriptPubKey}`, () => {
      const parsed = parseAddress(vector.address, NETWORKS[vector.network]);
      assert.equal(parsed.scriptHex, vector.scriptPubKey);
      assert.equal(parsed.type, vector.type);
      assert.equal(addressFromScript(parsed.script, NETWORKS[vector.network]), vector.address.toLowerCase());
    });
  }
});

describe('BIP 350 invalid segwit addresses', () => {
  for (const vector of bip350.invalid) {
    test(`${vector.reason}: ${vector.address}`, () => {
      assert.throws(() => parseAddress(vector.address, NETWORKS[vector.network]), { code: 'BITCOIN_ADDRESS_INVALID' });
    });
  }
});

describe('base58 addresses', () => {
  test('P2PKH and P2SH on mainnet, P2SH on the test networks', () => {
    assert.equal(parseAddress(SLIP132_P2PKH, NETWORKS.mainnet).type, 'pkh');
    assert.match(parseAddress(SLIP132_P2PKH, NETWORKS.mainnet).scriptHex, /^76a914[0-9a-f]{40}88ac$/);
    assert.equal(parseAddress(SLIP132_P2SH, NETWORKS.mainnet).type, 'sh');
    // BIP 49's addressBytes for this address, inside OP_HASH160 <20 bytes> OP_EQUAL.
    assert.equal(parseAddress(BIP49_TESTNET_P2SH, NETWORKS.testnet).scriptHex, 'a914336caa13e08b96080a32b5d818d59b4ab3b3674287');
    for (const name of ['testnet', 'signet', 'regtest'] as const)
      assert.ok(isAddressFor(BIP49_TESTNET_P2SH, NETWORKS[name]), name);
  });

  test('a changed character fails the base58 checksum', () => {
    const typo = SLIP132_P2PKH.replace('GSKu', 'GSKv');
    assert.throws(() => parseAddress(typo, NETWORKS.mainnet), { code: 'BITCOIN_ADDRESS_INVALID', message: /checksum/ });
  });

  test('unknown formats are invalid', () => {
    for (const text of [
      '',
      'hello world',
      '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23',
      'bc1',
      'x'.repeat(91),
      'LTC1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu',
    ]) {
      assert.throws(() => parseAddress(text, NETWORKS.mainnet), { code: 'BITCOIN_ADDRESS_INVALID' }, text);
    }
  });
});

describe('wrong network', () => {
  test('a mainnet address on testnet, signet and regtest', () => {
    for (const name of ['testnet', 'signet', 'regtest'] as const) {
      for (const address of [SLIP132_P2PKH, SLIP132_P2SH, 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu']) {
        assert.throws(() => parseAddress(address, NETWORKS[name]), {
          code: 'BITCOIN_ADDRESS_WRONG_NETWORK',
          message: /mainnet address/,
        });
      }
    }
  });

  test('a testnet address on mainnet, and a tb1 address on regtest', () => {
    assert.throws(() => parseAddress(BIP49_TESTNET_P2SH, NETWORKS.mainnet), { code: 'BITCOIN_ADDRESS_WRONG_NETWORK' });
    const tb1 = bip350.valid.find((vector) => vector.address.startsWith('tb1q'))!.address;
    assert.throws(() => parseAddress(tb1, NETWORKS.mainnet), { code: 'BITCOIN_ADDRESS_WRONG_NETWORK' });
    assert.throws(() => parseAddress(tb1, NETWORKS.regtest), {
      code: 'BITCOIN_ADDRESS_WRONG_NETWORK',
      message: /testnet\/signet/,
    });
  });

  test('a regtest bcrt1 address is valid on regtest only', () => {
    const regtestAddress = p2wpkh(BIP84_PUBKEY, REGTEST_FOR_BTC_SIGNER).address;
    const parsed = parseAddress(regtestAddress, NETWORKS.regtest);
    assert.equal(parsed.scriptHex, hex.encode(p2wpkh(BIP84_PUBKEY).script));
    assert.equal(addressFromScript(parsed.script, NETWORKS.regtest), regtestAddress);
    for (const name of ['mainnet', 'testnet', 'signet'] as const) {
      assert.throws(() => parseAddress(regtestAddress, NETWORKS[name]), { code: 'BITCOIN_ADDRESS_WRONG_NETWORK' }, name);
    }
  });
});

describe('addressFromScript', () => {
  test('the BIP 84 key’s P2WPKH script is its BIP 84 address', () => {
    assert.equal(addressFromScript(p2wpkh(BIP84_PUBKEY).script, NETWORKS.mainnet), 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu');
  });

  test('base58 scripts round-trip on their network', () => {
    for (const address of [SLIP132_P2PKH, SLIP132_P2SH]) {
      assert.equal(addressFromScript(parseAddress(address, NETWORKS.mainnet).script, NETWORKS.mainnet), address);
    }
    assert.equal(
      addressFromScript(parseAddress(BIP49_TESTNET_P2SH, NETWORKS.testnet).script, NETWORKS.signet),
      BIP49_TESTNET_P2SH,
    );
  });

  test('scripts without an address form are refused', () => {
    const scripts = [
      p2pk(BIP84_PUBKEY).script,
      OutScript.encode({ type: 'unknown', script: hex.decode('6a0b68656c6c6f20776f726c64') }),
      sortedMultisig(1, [BIP84_PUBKEY]).redeemScript!,
      new Uint8Array(),
      hex.decode('ff'),
      hex.decode('4c05aa'),
    ];
    for (const script of scripts) {
      assert.throws(() => addressFromScript(script, NETWORKS.mainnet), { code: 'BITCOIN_SCRIPT_NO_ADDRESS' }, hex.encode(script));
    }
  });
});

describe('networks', () => {
  test('names resolve, and an unknown name is refused', () => {
    assert.equal(networkByName('regtest').bech32, 'bcrt');
    assert.equal(networkByName('signet').bech32, 'tb');
    assert.throws(() => networkByName('testnet4'), { code: 'BITCOIN_NETWORK_UNKNOWN' });
  });

  test('a network is accepted by btc-signer as it is', () => {
    assert.equal(p2wpkh(BIP84_PUBKEY, NETWORKS.regtest).address, p2wpkh(BIP84_PUBKEY, REGTEST_FOR_BTC_SIGNER).address);
    assert.equal(p2wpkh(BIP84_PUBKEY, NETWORKS.mainnet).address, 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu');
  });
});
