// The demo's co-signers: the simulated wallet's keys sit in the data folder, so the signing steps can be tried
// without a hardware wallet. Never on a real network.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { base64 } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import type { Command } from 'commander';
import { networkByName } from '../../core/bitcoin/index.js';
import { CliError } from '../errors.js';
import { configFrom, type GlobalOptions } from '../options.js';

const DEMO_WALLET_FILE = 'demo-cosigners.json';

/** The PSBT (base64) with every input this demo co-signer's key can sign signed by it. */
export function signWithDemoCosigner(command: Command, psbtBase64: string, cosigner: number): string {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  const file = join(config.dataDir, DEMO_WALLET_FILE);
  if (config.chain.provider !== 'simulated' || config.chain.network === 'mainnet' || !existsSync(file)) {
    throw new CliError(
      'CLI_OPTION_INVALID',
      `sign-demo signs only the simulated demo wallet (${file}); real co-signers sign in their own wallets`,
    );
  }
  const demo = JSON.parse(readFileSync(file, 'utf8')) as { cosigners: { fingerprint: string; xprv: string }[] };
  const key = demo.cosigners[cosigner];
  if (!key) throw new CliError('CLI_OPTION_INVALID', `the demo wallet has ${demo.cosigners.length} co-signers`);
  const network = networkByName(config.chain.network);
  const plain = network.extendedKeys.find((version) => version.prefix === network.plainKeyPrefix)!;
  const master = HDKey.fromExtendedKey(key.xprv, { public: plain.public, private: plain.private });
  const tx = Transaction.fromPSBT(base64.decode(psbtBase64));
  let signed = 0;
  for (let index = 0; index < tx.inputsLength; index++) {
    for (const [, origin] of tx.getInput(index).bip32Derivation ?? []) {
      if (origin.fingerprint !== master.fingerprint) continue;
      const child = master.derive(
        `m/${origin.path.map((step) => (step >= 0x80000000 ? `${step - 0x80000000}'` : step)).join('/')}`,
      );
      if (tx.signIdx(child.privateKey!, index)) signed++;
    }
  }
  if (signed === 0)
    throw new CliError('CLI_FAILED', `demo co-signer ${cosigner + 1} (${key.fingerprint}) has no key in this PSBT`);
  return base64.encode(tx.toPSBT());
}
