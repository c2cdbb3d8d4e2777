// `dctrl approver …`: an approver's personal key: made on their own machine, enrolled (pending until the quorum of
// approvers endorses it, or active at once while bootstrapping), endorsed, revoked, listed.
import type { Command } from 'commander';
import {
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyList,
  ApproverKeyRevoke,
  type ApproverKey,
} from '../../core/messages-payout.js';
import { endorseProof, enrollPayload, readApproverKey, revokeProof, writeApproverKey } from '../approver-key.js';
import { onBus, print } from '../command-kit.js';
import { CliError } from '../errors.js';
import { table } from '../table.js';

function when(at: number | null): string {
  return at === null ? '' : new Date(at).toISOString().slice(0, 16).replace('T', ' ');
}

function describeKey(key: ApproverKey): string {
  const state =
    key.state === 'active'
      ? `active${key.bootstrap ? ' (bootstrap: check that it is yours)' : ''}`
      : key.state === 'revoked'
        ? 'revoked'
        : `pending: endorsed by ${key.endorsements.length > 0 ? key.endorsements.map((e) => e.approver).join(', ') : 'nobody yet'}`;
  const votes = key.state !== 'revoked' && key.revocations.length > 0;
  return `${key.approver}: ${key.keyId} (${key.kind}) ${state}${votes ? `; revocation signed by ${key.revocations.map((r) => r.approver).join(', ')}` : ''}`;
}

export function registerApproverCommands(program: Command): void {
  const approver = program
    .command('approver')
    .description('approvers’ personal keys: each payout decision is signed by one, checked by PayoutMgr');
  approver
    .command('keygen')
    .description('make a personal Ed25519 key file on your own machine (not on the hub)')
    .requiredOption('--out <file>', 'where to write it (owner-only; never overwritten)')
    .requiredOption('--name <approver>', 'your name in payoutMgr.approvers')
    .action((o: { out: string; name: string }) => {
      const made = writeApproverKey(o.out, o.name);
      print(`wrote ${o.out}: key ${made.keyId} for ${made.approver}`);
      print(`enroll it with dctrl approver enroll --key ${o.out}; the other approvers then endorse ${made.keyId}`);
    });
  approver
    .command('enroll')
    .description('enroll the public half of your key file: pending until the quorum of approvers endorses it')
    .requiredOption('--key <file>', 'your approver key file')
    .action(async (o: { key: string }, c: Command) => {
      const file = readApproverKey(o.key);
      await onBus(c, async (bus) => {
        const key = (await bus.request(ApproverKeyEnroll, enrollPayload(file))) as ApproverKey;
        print(describeKey(key));
        if (key.state === 'pending') print(`the other approvers endorse it with dctrl approver endorse ${key.keyId} --key FILE`);
      });
    });
  approver
    .command('endorse <keyId>')
    .description('vouch for another approver’s pending key with your own active key')
    .requiredOption('--key <file>', 'your approver key file')
    .action(async (keyId: string, o: { key: string }, c: Command) => {
      const file = readApproverKey(o.key);
      await onBus(c, async (bus) => {
        const { keys } = (await bus.request(ApproverKeyList, {})) as { keys: ApproverKey[] };
        const pending = keys.find((key) => key.keyId === keyId);
        if (!pending) throw new CliError('CLI_OPTION_INVALID', `no approver key ${keyId} is enrolled (dctrl approver keys)`);
        print(`endorsing ${describeKey(pending)}, public key ${pending.publicKey}`);
        const proof = endorseProof(file, pending, Date.now());
        const key = (await bus.request(ApproverKeyEndorse, { keyId, approver: file.approver, proof })) as ApproverKey;
        print(describeKey(key));
      });
    });
  approver
    .command('revoke <keyId>')
    .description('retire a key: your own at once, another approver’s once approvalsRequired approvers have signed')
    .requiredOption('--key <file>', 'your approver key file')
    .action(async (keyId: string, o: { key: string }, c: Command) => {
      const file = readApproverKey(o.key);
      await onBus(c, async (bus) => {
        const { keys } = (await bus.request(ApproverKeyList, {})) as { keys: ApproverKey[] };
        const target = keys.find((key) => key.keyId === keyId);
        if (!target) throw new CliError('CLI_OPTION_INVALID', `no approver key ${keyId} is enrolled (dctrl approver keys)`);
        const proof = revokeProof(file, target, Date.now());
        print(describeKey((await bus.request(ApproverKeyRevoke, { keyId, approver: file.approver, proof })) as ApproverKey));
      });
    });
  approver
    .command('keys')
    .description('the approvers’ keys, active and pending, and who endorsed them')
    .option('--approver <name>', 'only this approver’s keys')
    .action(async (o: { approver?: string }, c: Command) => {
      await onBus(c, async (bus) => {
        const list = (await bus.request(ApproverKeyList, o.approver !== undefined ? { approver: o.approver } : {})) as {
          keys: ApproverKey[];
          approvalsRequired: number;
          bootstrap: boolean;
        };
        if (list.bootstrap) {
          print(
            `bootstrap: fewer than ${list.approvalsRequired} approvers have an active key; a key enrolled now is active at once`,
          );
        }
        if (list.keys.length === 0) return print('no approver keys');
        const rows = [['approver', 'key', 'kind', 'state', 'enrolled', 'endorsed by']];
        for (const key of list.keys) {
          rows.push([
            key.approver,
            key.keyId.length > 40 ? `${key.keyId.slice(0, 40)}…` : key.keyId,
            key.kind,
            key.state + (key.bootstrap ? ' (bootstrap)' : ''),
            when(key.enrolledAt),
            key.endorsements.map((e) => e.approver).join(', '),
          ]);
        }
        print(table(rows));
      });
    });
}
