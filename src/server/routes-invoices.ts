// Invoices for staff: the newest ones (optionally in one state or one member's), and one with its QR code to pay
// from a wallet. Asked of the ChainNotifier over the bus.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { InvoiceGet, InvoiceList, invoiceStates } from '../core/messages-chain.js';
import { invoiceReply, invoicesReply, limitValue, memberIdValue, okReply, ulidValue } from './api-shapes.js';
import type { AppDeps } from './deps.js';
import { jsonSchema } from './schema.js';

export const invoicesQuery = z.strictObject({
  state: z.enum(invoiceStates).optional(),
  memberId: memberIdValue.optional(),
  /** The ChainNotifier lists at most 50. */
  limit: limitValue(50),
});
const invoiceParams = z.strictObject({ invoiceId: ulidValue });

export function registerInvoiceRoutes(app: FastifyInstance, { ask }: AppDeps): void {
  app.get(
    '/api/v1/invoices',
    {
      schema: {
        tags: ['invoices'],
        summary: 'The newest invoices (at most 50), optionally in one state or one member’s, without QR codes',
        querystring: jsonSchema(invoicesQuery),
        response: okReply('Invoices, newest first', invoicesReply),
      },
      config: { access: ['admin', 'treasurer'] },
    },
    async (request) => {
      const query = request.query as z.infer<typeof invoicesQuery>;
      return ask(InvoiceList, query);
    },
  );
  app.get(
    '/api/v1/invoices/:invoiceId',
    {
      schema: {
        tags: ['invoices'],
        summary: 'One invoice as it stands, with its BIP21 URI as a QR code (SVG)',
        params: jsonSchema(invoiceParams),
        response: okReply('The invoice', invoiceReply),
      },
      config: { access: ['admin', 'treasurer'] },
    },
    async (request) => {
      const { invoiceId } = request.params as z.infer<typeof invoiceParams>;
      const { invoice } = (await ask(InvoiceGet, { id: invoiceId })) as { invoice: InvoiceWithQr };
      return withoutPng(invoice);
    },
  );
}

type InvoiceWithQr = z.infer<typeof invoiceReply> & { qrPng: string };

/** The PNG is the same code again, for mail; a page shows the SVG. */
function withoutPng({ qrPng: _png, ...invoice }: InvoiceWithQr): z.infer<typeof invoiceReply> {
  return invoice;
}
