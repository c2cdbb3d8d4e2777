// Income by month as a bar chart drawn in inline SVG: money received (payments in) beside money earned (dues and
// sales booked), with the numbers in a table below for screen readers and exact reading.
import { formatCents } from '../../core/money.js';
import { money, monthLabel } from './format.js';
import { useResource } from './hooks.js';
import type { IncomeByMonth } from './types.js';
import { ErrorBox, Loading, Section } from './widgets.js';

const MONTHS = 12;
const HEIGHT = 180;
const AXIS = 56;
const GROUP = 36;
const BAR = 13;
const TOP = 10;
const BOTTOM = 22;

/** The smallest 1, 2 or 5 × 10^k cents that covers `max` in at most four steps. */
export function tickStep(max: number): number {
  let scale = 1;
  for (;;) {
    for (const factor of [1, 2, 5]) {
      if (factor * scale * 4 >= max) return factor * scale;
    }
    scale *= 10;
  }
}

/** Whole amounts on the axis: "1500" rather than "1500.00". */
function axisLabel(cents: number): string {
  return formatCents(cents).replace(/\.00$/, '');
}

export function Income() {
  const income = useResource<IncomeByMonth>(`/reports/income-by-month?months=${MONTHS}`);
  return (
    <Section title="Income by month" class="income">
      {income.error && <ErrorBox error={income.error} />}
      {!income.data && !income.error && <Loading />}
      {income.data && <IncomeChart report={income.data} />}
    </Section>
  );
}

function IncomeChart(props: { report: IncomeByMonth }) {
  const { months, currency } = props.report;
  if (months.length === 0) return <p class="muted">No income booked yet.</p>;
  const max = Math.max(1, ...months.flatMap((month) => [month.receivedCents, month.earnedCents]));
  const step = tickStep(max);
  const top = Math.ceil(max / step) * step;
  const plot = HEIGHT - TOP - BOTTOM;
  const y = (cents: number) => TOP + plot - (Math.max(0, cents) / top) * plot;
  const width = AXIS + months.length * GROUP;
  const ticks = Array.from({ length: top / step + 1 }, (_, index) => index * step);

  return (
    <>
      <svg class="chart" viewBox={`0 0 ${width} ${HEIGHT}`} role="img" aria-label={`Income by month in ${currency}`}>
        {ticks.map((tick) => (
          <g key={tick} class="tick">
            <line x1={AXIS - 4} x2={width} y1={y(tick)} y2={y(tick)} />
            <text x={AXIS - 8} y={y(tick) + 4} text-anchor="end">
              {axisLabel(tick)}
            </text>
          </g>
        ))}
        {months.map((month, index) => {
          const x = AXIS + index * GROUP + (GROUP - 2 * BAR) / 2;
          return (
            <g key={month.month}>
              <rect class="received" x={x} y={y(month.receivedCents)} width={BAR} height={y(0) - y(month.receivedCents)}>
                <title>{`${monthLabel(month.month)}: received ${money(month.receivedCents, currency)}`}</title>
              </rect>
              <rect class="earned" x={x + BAR} y={y(month.earnedCents)} width={BAR} height={y(0) - y(month.earnedCents)}>
                <title>{`${monthLabel(month.month)}: earned ${money(month.earnedCents, currency)}`}</title>
              </rect>
              <text class="month" x={x + BAR} y={HEIGHT - 6} text-anchor="middle">
                {monthLabel(month.month, true)}
              </text>
            </g>
          );
        })}
      </svg>
      <p class="legend small">
        <span class="swatch received" /> received <span class="swatch earned" /> earned, in {currency}
      </p>
      <details>
        <summary>Numbers</summary>
        <table>
          <thead>
            <tr>
              <th>Month</th>
              <th class="number">Received</th>
              <th class="number">Earned</th>
            </tr>
          </thead>
          <tbody>
            {months.map((month) => (
              <tr key={month.month}>
                <td>{monthLabel(month.month)}</td>
                <td class="number">{money(month.receivedCents)}</td>
                <td class="number">{money(month.earnedCents)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </>
  );
}
