// `dctrl sim …` and `dctrl machine …`: present a fob to a simulated device, and read what the doors and vending
// machines decided. Fob numbers are hashed here, at once, like everywhere else.
import type { Command } from 'commander';
import { hashFob } from '../../core/fob-hash.js';
import { DecisionsQuery, MachineTopics, SimulateTap, type Decision } from '../../core/messages-machine.js';
import { formatCents } from '../../core/money.js';
import { withBus } from '../bus-session.js';
import { CliError } from '../errors.js';
import { configFrom, parseLimit, type GlobalOptions } from '../options.js';
import { fobHashKey } from './member.js';

/** How long `sim tap` waits for BusinessMgr's decision and then for a vending machine to report the vend. */
const DECISION_WAIT_MS = 5_000;
const OUTCOME_WAIT_MS = 3_000;
const POLL_MS = 50;

function print(text: string): void {
  process.stdout.write(text + '\n');
}

export function describeDecision(decision: Decision): string {
  const who = decision.memberId ?? (decision.fobLastDigits ? `fob …${decision.fobLastDigits}` : '—');
  const what =
    decision.kind === 'door'
      ? decision.allowed
        ? 'open'
        : 'stay shut'
      : decision.allowed
        ? `vend ${decision.count} × ${decision.product ?? '?'}${decision.cents !== null ? ` (${formatCents(decision.cents)})` : ''}`
        : `no vend${decision.product ? ` of ${decision.product}` : ''}`;
  const outcome = decision.outcome ? `  → ${decision.outcome}` : '';
  return `${new Date(decision.at).toISOString()}  ${decision.device.padEnd(14)} ${what.padEnd(24)} ${decision.reason.padEnd(20)} ${decision.via.padEnd(8)} ${who}${outcome}`;
}

async function findDecision(
  request: (payload: { tapId: string }) => Promise<Decision[]>,
  tapId: string,
  until: (decision: Decision) => boolean,
  waitMs: number,
): Promise<Decision | undefined> {
  const deadline = Date.now() + waitMs;
  let found: Decision | undefined;
  while (Date.now() < deadline) {
    found = (await request({ tapId }))[0];
    if (found && until(found)) return found;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return found;
}

export function registerMachineCommands(program: Command): void {
  const sim = program.command('sim').description('drive the simulated devices of the demo space');
  sim
    .command('tap <device> <fobNumber>')
    .description('present a fob (its 10 digits) to a device with a simulated reader, and show what happened')
    .action(async (device: string, fobNumber: string, _o: unknown, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      const configured = config.machines.devices[device];
      if (!configured) {
        throw new CliError(
          'CLI_FAILED',
          `no device "${device}" in machines.devices; configured: ${Object.keys(config.machines.devices).join(', ') || 'none'}`,
        );
      }
      if (configured.reader.kind !== 'simulated')
        throw new CliError(
          'CLI_FAILED',
          `${device} reads fobs from a real ${configured.reader.kind} reader, not a simulated one`,
        );
      const fob = hashFob(fobNumber, fobHashKey(config));
      await withBus(config, async (bus) => {
        const reply = (await bus.request(SimulateTap, { fob }, { topic: MachineTopics.simulateTap(device) })) as {
          tapId: string | null;
          debounced: boolean;
        };
        if (reply.tapId === null) {
          print(`${device}: the same fob was read moments ago; one tap (debounced)`);
          return;
        }
        const decisions = async (payload: { tapId: string }) =>
          ((await bus.request(DecisionsQuery, { ...payload, limit: 1 })) as { decisions: Decision[] }).decisions;
        const decided = await findDecision(decisions, reply.tapId, () => true, DECISION_WAIT_MS);
        if (!decided) {
          print(`${device}: tap ${reply.tapId} sent; no decision yet (is business-mgr running?)`);
          process.exitCode = 1;
          return;
        }
        // A vend reports back within a second; a door only when its hold (12 s) ends, so it is not waited for.
        const finished =
          decided.allowed && decided.kind === 'vend'
            ? await findDecision(decisions, reply.tapId, (decision) => decision.outcome !== null, OUTCOME_WAIT_MS)
            : decided;
        print(describeDecision(finished ?? decided));
      });
    });

  const machine = program.command('machine').description('doors and vending machines');
  machine
    .command('decisions')
    .description('what the doors and vending machines were told to do, and why, newest first')
    .option('--device <id>', 'only this device')
    .option('--member <memberId>', 'only this member')
    .option('--limit <n>', 'how many (at most 200)', '20')
    .action(async (options: { device?: string; member?: string; limit: string }, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      await withBus(config, async (bus) => {
        const { decisions } = (await bus.request(DecisionsQuery, {
          limit: parseLimit(options.limit, 200),
          ...(options.device ? { device: options.device } : {}),
          ...(options.member ? { memberId: options.member } : {}),
        })) as { decisions: Decision[] };
        if (decisions.length === 0) print('no decisions yet');
        for (const decision of decisions) print(describeDecision(decision));
      });
    });
}
