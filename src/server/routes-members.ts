// Members: the list with status and balance (staff), one member's facts, statement and deposit address (staff,
// or that member). Read through the bus from MemberData, the Reporter and the ChainNotifier.
import type { FastifyInstance } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import { DepositAddress } from '../core/messages-chain.js';
import { MemberQuery, ReportRequest } from '../core/messages.js';
import { membersReply, okReply, statementReply } from './api-shapes.js';
import { jsonSchema } from './schema.js';
import type { AppDeps } from './deps.js';
import { ServerError } from './errors.js';

const memberId = z.string().regex(/^[0-9A-Z]{1,40}$/, 'a member id (letters and digits)');
const memberParams = z.strictObject({ memberId });
const page = { after: z.string().max(40).optional(), limit: z.int().min(1).max(200).optional() };
const format = z.enum(['json', 'csv']).optional();
const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month as YYYY-MM');

export const membersQuery = z.strictObject({ includeLeft: z.boolean().optional(), format, ...page });
export const statementQuery = z.strictObject({ month: month.optional(), format, ...page });

export function registerMemberRoutes(app: FastifyInstance, { ask }: AppDeps): void {
  app.get(
    '/api/v1/members',
    {
      schema: {
        tags: ['members'],
        summary: 'Members with status and balance, a page at a time',
        querystring: jsonSchema(membersQuery),
        response: okReply('A page of members; `next` is the `after` of the following page', membersReply, { csv: true }),
      },
      config: { access: ['admin', 'treasurer'] },
    },
    async (request, reply) => {
      const query = request.query as z.infer<typeof membersQuery>;
      const answer = (await ask(ReportRequest, { report: 'members', ...query })) as {
        json?: unknown;
        csv?: string;
        next: string | null;
      };
      if (query.format === 'csv') return reply.type('text/csv; charset=utf-8').send(answer.csv ?? '');
      return answer.json;
    },
  );
  app.get(
    '/api/v1/members/:memberId',
    {
      schema: { tags: ['members'], summary: 'One member: facts, status and balance', params: jsonSchema(memberParams) },
      config: { access: ['admin', 'treasurer', 'member-self'] },
    },
    async (request) => {
      const { memberId: id } = request.params as z.infer<typeof memberParams>;
      const facts = (await ask(MemberQuery, { memberId: id, includeLeft: true })) as {
        members: { memberId: string; fobs: { fobHash?: string }[] }[];
      };
      const member = facts.members.find((candidate) => candidate.memberId === id);
      if (!member) throw new ServerError('SERVER_NOT_FOUND', `no member ${id}`);
      const statement = (await ask(ReportRequest, { report: 'statement', memberId: id, limit: 1 })) as {
        json: { member: unknown };
      };
      // Fob hashes stay on the hub: the last digits are enough to recognise a fob.
      const fobs = member.fobs.map(({ fobHash: _hash, ...rest }) => rest);
      return { member: { ...member, fobs }, line: statement.json.member };
    },
  );
  app.get(
    '/api/v1/members/:memberId/statement',
    {
      schema: {
        tags: ['members'],
        summary: 'A member’s ledger entries (all, or one month) with the balance after each',
        params: jsonSchema(memberParams),
        querystring: jsonSchema(statementQuery),
        response: okReply('A page of entries; `next` is the `after` of the following page', statementReply, { csv: true }),
      },
      config: { access: ['admin', 'treasurer', 'member-self'] },
    },
    async (request, reply) => {
      const { memberId: id } = request.params as z.infer<typeof memberParams>;
      const query = request.query as z.infer<typeof statementQuery>;
      const answer = (await ask(ReportRequest, { report: 'statement', memberId: id, ...query })) as {
        json?: unknown;
        csv?: string;
      };
      if (query.format === 'csv') return reply.type('text/csv; charset=utf-8').send(answer.csv ?? '');
      return answer.json;
    },
  );
  app.get(
    '/api/v1/members/:memberId/deposit',
    {
      schema: {
        tags: ['members'],
        summary: 'A member’s bitcoin deposit address, BIP21 link and QR code (SVG)',
        params: jsonSchema(memberParams),
      },
      config: { access: ['admin', 'treasurer', 'member-self'] },
    },
    async (request) => {
      const { memberId: id } = request.params as z.infer<typeof memberParams>;
      const deposit = (await ask(DepositAddress, { memberId: id })) as { address: string; uri: string };
      const qrSvg = await QRCode.toString(deposit.uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      return { address: deposit.address, uri: deposit.uri, qrSvg };
    },
  );
}
