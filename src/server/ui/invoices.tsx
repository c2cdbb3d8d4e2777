// Open invoices (not yet paid, or paid and waiting for confirmation), each with its QR code to pay from a wallet.
import { api } from './api.js';
import { dateTime, money, sats } from './format.js';
import { useLoad } from './hooks.js';
import { useRefreshOn } from './live.js';
import type { Invoice } from './types.js';
import { ErrorBox, Loading, QrCode, Section } from './widgets.js';

const OPEN_STATES = ['new', 'processing'] as const;
/** Enough to fill a screen; each QR code is one more request. */
const WITH_QR = 24;

async function openInvoices(): Promise<Invoice[]> {
  const lists = await Promise.all(OPEN_STATES.map((state) => api<{ invoices: Invoice[] }>(`/invoices?state=${state}`)));
  const open = lists.flatMap((list) => list.invoices).sort((a, b) => b.createdAt - a.createdAt);
  return Promise.all(
    open.map((invoice, index) =>
      index < WITH_QR
        ? api<Invoice>(`/invoices/${encodeURIComponent(invoice.id)}`).catch(() => invoice)
        : Promise.resolve(invoice),
    ),
  );
}

export function Invoices() {
  const invoices = useLoad('open-invoices', openInvoices);
  // A chain.invoice event is an invoice that changed state (paid, expired) or was created.
  useRefreshOn(['chain.invoice'], invoices.reload);
  return (
    <Section title="Open invoices" class="invoices">
      {invoices.error && <ErrorBox error={invoices.error} />}
      {!invoices.data && !invoices.error && <Loading />}
      {invoices.data?.length === 0 && <p class="muted">No open invoices.</p>}
      <div class="invoice-grid">
        {invoices.data?.map((invoice) => (
          <article key={invoice.id} class="invoice" data-testid="invoice">
            <h3>
              {money(invoice.cents, invoice.currency)} <span class="muted small">{sats(invoice.sats)}</span>
            </h3>
            <p>
              {invoice.product ?? invoice.memo ?? 'Invoice'} <span class="badge">{invoice.state}</span>
            </p>
            {invoice.qrSvg && (
              <a href={invoice.uri}>
                <QrCode svg={invoice.qrSvg} label={`QR code to pay invoice ${invoice.id}`} />
              </a>
            )}
            <p class="address">
              <code>{invoice.address}</code>
            </p>
            <p class="muted small">
              Created {dateTime(invoice.createdAt)}, expires {dateTime(invoice.expiresAt)}
            </p>
          </article>
        ))}
      </div>
    </Section>
  );
}
