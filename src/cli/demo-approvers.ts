// The demo's approvers' key files: on the simulated chain only, one per approver in the data folder (where on a real
// hub they must never be), enrolled over the bus like any key, so `dctrl payout approve --key` can be tried at once.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import { ApproverKeyEndorse, ApproverKeyEnroll, ApproverKeyList, type ApproverKey } from '../core/messages-payout.js';
import { endorseProof, enrollPayload, readApproverKey, writeApproverKey, type ApproverKeyFile } from './approver-key.js';
import { withBus } from './bus-session.js';

export function demoApproverKeyFile(config: Config, approver: string): string {
  return join(config.dataDir, `approver-${approver.replace(/[^A-Za-z0-9_-]/g, '_')}.key`);
}

/**
 * Makes and enrolls the demo approvers' keys when the hub runs PayoutMgr on the simulated chain; the first ones are
 * active at bootstrap, any others are endorsed by those.
 * @returns a banner line naming the files, or undefined when this is no demo payout desk.
 */
export async function enrollDemoApprovers(config: Config): Promise<string | undefined> {
  if (config.chain.provider !== 'simulated' || config.chain.network === 'mainnet') return undefined;
  if (!config.services.includes('payout-mgr') || !config.services.includes('vault')) return undefined;
  const files = new Map<string, ApproverKeyFile>();
  for (const approver of config.payoutMgr.approvers) {
    const file = demoApproverKeyFile(config, approver);
    files.set(approver, existsSync(file) ? readApproverKey(file) : writeApproverKey(file, approver));
  }
  await withBus(config, async (bus) => {
    for (const file of files.values()) await bus.request(ApproverKeyEnroll, enrollPayload(file));
    const { keys } = (await bus.request(ApproverKeyList, {})) as { keys: ApproverKey[] };
    const active = keys.filter((key) => key.state === 'active' && files.get(key.approver)?.keyId === key.keyId);
    for (const key of keys.filter(
      (candidate) => candidate.state === 'pending' && files.get(candidate.approver)?.keyId === candidate.keyId,
    )) {
      for (const endorser of active) {
        const file = files.get(endorser.approver)!;
        await bus.request(ApproverKeyEndorse, {
          keyId: key.keyId,
          approver: file.approver,
          proof: endorseProof(file, key, Date.now()),
        });
      }
    }
  });
  return `approver key files (demo): ${[...files.keys()].map((name) => demoApproverKeyFile(config, name)).join(', ')}`;
}
