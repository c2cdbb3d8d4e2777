// `dctrl member …`: record and read member facts through the running hub. Fob numbers are hashed here, at once.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import type { Config } from '../../core/config.js';
import type { PayloadOf } from '../../core/contract.js';
import { CoreError } from '../../core/errors.js';
import { MemberCommand, MemberImport, MemberQuery } from '../../core/messages.js';
import { hashFob } from '../../core/fob-hash.js';
import { withBus } from '../bus-session.js';
import { CliError } from '../errors.js';
import { configFrom, type GlobalOptions } from '../options.js';
import { openExistingVault } from '../vault-access.js';
import { readMemberCsv, type CsvMember } from './member-csv.js';

const FOB_SECRET = 'fob-hash-key';
/** The most rows MemberData takes in one import (member-data.import). */
const MAX_IMPORT_ROWS = 300;
/** Room left in a bus message for the envelope around the rows (ids, topics, signature). */
const ENVELOPE_ALLOWANCE_BYTES = 2_048;
/** One import is one database transaction of up to 600 events; it may take longer than an ordinary request. */
const IMPORT_TIMEOUT_MS = 30_000;

type ImportRow = PayloadOf<typeof MemberImport>['rows'][number];

interface MemberFacts {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  exempt: boolean;
  status: string;
  fobs: { lastDigits: string }[];
  groups: string[];
  badges: string[];
}

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function describe(member: MemberFacts): string {
  const fobs = member.fobs.map((fob) => `…${fob.lastDigits}`).join(' ') || 'no fob';
  const groups = member.groups.length > 0 ? `  groups: ${member.groups.join(', ')}` : '';
  const badges = member.badges.length > 0 ? `  badges: ${member.badges.join(', ')}` : '';
  return `${member.memberId}  ${member.name.padEnd(20)} ${member.email.padEnd(28)} ${member.tier.padEnd(10)} ${member.status}${member.exempt ? ' (exempt)' : ''}  ${fobs}${groups}${badges}`;
}

/** The fob key from the local Vault, read once for all the fobs of one command. */
export function fobHashKey(config: Config): Buffer {
  const keeper = openExistingVault(config, process.env, systemClock);
  try {
    return keeper.secret(FOB_SECRET);
  } finally {
    keeper.close();
  }
}

/**
 * Turns the file's members into import rows: fob numbers hashed here, and every row checked against the message
 * contract, so a field too long for the bus is named by its line rather than refused as a whole message.
 */
function toImportRows(members: CsvMember[], config: Config): ImportRow[] {
  const key = members.some((member) => member.fobNumber !== undefined) ? fobHashKey(config) : undefined;
  return members.map(({ fobNumber, ...fields }) => {
    let row: ImportRow = fields;
    if (fobNumber !== undefined && key) {
      try {
        row = { ...fields, fob: hashFob(fobNumber, key) };
      } catch (error) {
        if (error instanceof CoreError) throw new CoreError('CORE_FOB_NUMBER_INVALID', `line ${fields.line}: ${error.message}`);
        throw error;
      }
    }
    const checked = MemberImport.payload.safeParse({ rows: [row] });
    if (!checked.success) {
      const problems = checked.error.issues.map((issue) => `"${issue.path.slice(2).join('.')}": ${issue.message}`);
      throw new CliError('CLI_FAILED', `line ${fields.line}: ${problems.join('; ')}`);
    }
    return row;
  });
}

async function importMembers(file: string, command: Command): Promise<void> {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (cause) {
    throw new CliError('CLI_FAILED', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  const members = readMemberCsv(content);
  if (members.length > MAX_IMPORT_ROWS)
    throw new CliError(
      'CLI_FAILED',
      `${file} has ${members.length} members; one import takes at most ${MAX_IMPORT_ROWS}: split it into files of ${MAX_IMPORT_ROWS} rows or fewer, each starting with the header row`,
    );
  const rows = toImportRows(members, config);
  const bytes = Buffer.byteLength(JSON.stringify({ rows }));
  if (bytes + ENVELOPE_ALLOWANCE_BYTES > config.bus.maxMessageBytes)
    throw new CliError(
      'CLI_FAILED',
      `the ${rows.length} members take ${bytes} bytes, more than one bus message carries (bus.maxMessageBytes is ${config.bus.maxMessageBytes}); split ${file} into smaller files`,
    );
  await withBus(config, async (bus) => {
    const { memberIds } = (await bus.request(MemberImport, { rows }, { timeoutMs: IMPORT_TIMEOUT_MS })) as {
      memberIds: string[];
    };
    print(`imported ${memberIds.length} member${memberIds.length === 1 ? '' : 's'}`);
    for (const memberId of memberIds) print(memberId);
  });
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
        const members: MemberFacts[] = [];
        let after: string | undefined;
        do {
          const page = (await bus.request(MemberQuery, {
            includeLeft: o.all ?? false,
            ...(after !== undefined ? { after } : {}),
          })) as { members: MemberFacts[]; next: string | null };
          members.push(...page.members);
          after = page.next ?? undefined;
        } while (after !== undefined);
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
      const fob = hashFob(fobNumber, fobHashKey(configFrom(c.optsWithGlobals<GlobalOptions>())));
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
  member
    .command('group <memberId> <group>')
    .description('put a member in a group (keyholders, …), or take them out with --remove')
    .option('--remove', 'take the member out of the group')
    .action((memberId: string, group: string, o: { remove?: boolean }, c: Command) =>
      send(c, o.remove ? { action: 'remove-group', memberId, group } : { action: 'add-group', memberId, group }),
    );
  member
    .command('badge <memberId> <badge>')
    .description('award a badge (trained on a tool, say), or take it back with --revoke')
    .option('--revoke', 'take the badge back')
    .action((memberId: string, badge: string, o: { revoke?: boolean }, c: Command) =>
      send(c, o.revoke ? { action: 'revoke-badge', memberId, badge } : { action: 'award-badge', memberId, badge }),
    );
  member
    .command('import <file>')
    .description(
      `add members from a CSV file with the header row name,email,tier[,fob]: all of them, or none when a row is wrong (at most ${MAX_IMPORT_ROWS})`,
    )
    .action((file: string, _o: unknown, c: Command) => importMembers(file, c));
}
