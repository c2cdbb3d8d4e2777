// `dctrl member …`: record and read member facts through the running hub. Fob numbers are hashed here, at once.
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import type { PayloadOf } from '../../core/contract.js';
import { MemberCommand, MemberQuery } from '../../core/messages.js';
import { hashFob } from '../../core/fob-hash.js';
import { withBus } from '../bus-session.js';
import { configFrom, type GlobalOptions } from '../options.js';
import { openExistingVault } from '../vault-access.js';

const FOB_SECRET = 'fob-hash-key';

interface MemberFacts {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  exempt: boolean;
  status: string;
  fobs: { lastDigits: string }[];
}

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function describe(member: MemberFacts): string {
  const fobs = member.fobs.map((fob) => `…${fob.lastDigits}`).join(' ') || 'no fob';
  return `${member.memberId}  ${member.name.padEnd(20)} ${member.email.padEnd(28)} ${member.tier.padEnd(10)} ${member.status}${member.exempt ? ' (exempt)' : ''}  ${fobs}`;
}

async function send(command: Command, payload: PayloadOf<typeof MemberCommand>): Promise<void> {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  await withBus(config, async (bus) => {
    const { member } = (await bus.request(MemberCommand, payload)) as { member: MemberFacts };
    print(describe(member));
  });
}

export function registerMemberCommands(program: Command): void {
  const member = program.command('member').description('members and their fobs');
  member
    .command('add')
    .description('a new member')
    .requiredOption('--name <name>', 'full name')
    .requiredOption('--email <email>', 'email address')
    .option('--tier <tier>', 'dues tier', 'member')
    .action((o: { name: string; email: string; tier: string }, c: Command) =>
      send(c, { action: 'join', name: o.name, email: o.email, tier: o.tier }),
    );
  member
    .command('list')
    .description('current members')
    .option('--all', 'include those who left')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; json?: boolean }, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      await withBus(config, async (bus) => {
        const { members } = (await bus.request(MemberQuery, { includeLeft: o.all ?? false })) as { members: MemberFacts[] };
        if (o.json) return print(JSON.stringify(members, null, 2));
        for (const one of members) print(describe(one));
      });
    });
  member
    .command('show <memberId>')
    .description('one member')
    .action(async (memberId: string, _o: unknown, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      await withBus(config, async (bus) => {
        const { members } = (await bus.request(MemberQuery, { memberId })) as { members: MemberFacts[] };
        print(JSON.stringify(members[0], null, 2));
      });
    });
  member
    .command('issue-fob <memberId> <fobNumber>')
    .description('give a member a fob: the 10 digits the reader types; only its keyed hash leaves this machine')
    .action((memberId: string, fobNumber: string, _o: unknown, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      const keeper = openExistingVault(config, process.env, systemClock);
      let fob;
      try {
        fob = hashFob(fobNumber, keeper.secret(FOB_SECRET));
      } finally {
        keeper.close();
      }
      return send(c, { action: 'issue-fob', memberId, fob });
    });
  member
    .command('revoke-fob <memberId> <lastDigits>')
    .description('take back a member’s fob, named by the last 3 digits printed on it')
    .action((memberId: string, lastDigits: string, _o: unknown, c: Command) =>
      send(c, { action: 'revoke-fob', memberId, fob: lastDigits }),
    );
  member
    .command('set-email <memberId> <email>')
    .description('a new email address')
    .action((memberId: string, email: string, _o: unknown, c: Command) => send(c, { action: 'change-email', memberId, email }));
  member
    .command('set-tier <memberId> <tier>')
    .description('a new dues tier')
    .action((memberId: string, tier: string, _o: unknown, c: Command) => send(c, { action: 'change-tier', memberId, tier }));
  member
    .command('exempt <memberId>')
    .description('exempt from dues (admins, honorary members), or --clear')
    .option('--reason <text>', 'why', 'exempt')
    .option('--clear', 'no longer exempt')
    .action((memberId: string, o: { reason: string; clear?: boolean }, c: Command) =>
      send(c, o.clear ? { action: 'clear-exempt', memberId } : { action: 'set-exempt', memberId, reason: o.reason }),
    );
  member
    .command('leave <memberId>')
    .description('the member leaves; their fobs stop working')
    .action((memberId: string, _o: unknown, c: Command) => send(c, { action: 'leave', memberId }));
  member
    .command('rejoin <memberId>')
    .description('a member who left comes back')
    .action((memberId: string, _o: unknown, c: Command) => send(c, { action: 'rejoin', memberId }));
}
