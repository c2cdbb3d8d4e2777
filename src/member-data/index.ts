// MemberData: records member facts as events, answers member queries, and announces every new fact on the bus.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import type { PayloadOf } from '../core/contract.js';
import { MemberChanged, MemberCommand, MemberQuery } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { MemberDataError } from './errors.js';
import { MemberRegister, SERVICE_NAME, type Member } from './register.js';

export { SERVICE_NAME };
export { MemberDataError, MemberDataErrorCodes } from './errors.js';

type Command = PayloadOf<typeof MemberCommand>;

function run(register: MemberRegister, command: Command, by: string): Promise<Member> {
  switch (command.action) {
    case 'join':
      return register.join(command, by);
    case 'change-email':
      return register.changeEmail(command.memberId, command.email, by);
    case 'change-tier':
      return register.changeTier(command.memberId, command.tier, by);
    case 'issue-fob':
      return register.issueFob(command.memberId, command.fob, by);
    case 'revoke-fob':
      return register.revokeFob(command.memberId, command.fob, by);
    case 'set-exempt':
      return register.setExempt(command.memberId, command.reason, by);
    case 'clear-exempt':
      return register.clearExempt(command.memberId, by);
    case 'leave':
      return register.leave(command.memberId, by);
    case 'rejoin':
      return register.rejoin(command.memberId, by);
  }
}

export function createMemberData(context: ServiceContext, database: DatabaseHandle): Service {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  let bus: BusClient | undefined;

  return {
    name: SERVICE_NAME,
    async start() {
      const register = await MemberRegister.open(database, clock);
      bus = createBusClient(context);
      await bus.start();
      const publisher = bus;
      await bus.respond(MemberCommand, async (command, envelope) => {
        if (!config.memberData.editors.includes(envelope.issuer)) {
          throw new MemberDataError('MEMBER_DATA_NOT_ALLOWED', `"${envelope.issuer}" is not in memberData.editors`);
        }
        const member = await run(register, command, envelope.issuer);
        log.info({ memberId: member.memberId, action: command.action, by: envelope.issuer }, 'member fact recorded');
        await publisher.publish(MemberChanged, { event: command.action, member });
        return { member };
      });
      await bus.respond(MemberQuery, async (query) => ({
        members:
          query.memberId !== undefined
            ? [await register.get(query.memberId)]
            : await register.list({ includeLeft: query.includeLeft ?? false }),
      }));
    },
    async stop() {
      await bus?.stop();
    },
    describe() {
      return [`member data: ${database.description}`];
    },
  };
}
