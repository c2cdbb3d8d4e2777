// The versioned book of tiers, products and policies: every change kept, with the day it takes effect.
import { ulid } from 'ulid';
import type { Kysely } from 'kysely';
import type { ZodType } from 'zod';
import type { Clock } from '../core/clock.js';
import { describeIssues } from '../core/envelope.js';
import { migrate, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';
import { isCalendarDate } from './dates.js';
import { BusinessDataError } from './errors.js';
import {
  DEFAULT_TIER,
  keySchema,
  POLICIES,
  POLICY_NAMES,
  productSchema,
  tierSchema,
  type Policies,
  type PolicyName,
  type Product,
  type SettingKind,
  type Tier,
} from './settings.js';

export const SERVICE_NAME = 'business-data';
/** Defaults are in force from the beginning, so every later change can take effect on any day. */
const BEGINNING = '1970-01-01';

interface ChangeRow {
  id: string;
  kind: string;
  key: string;
  value: string;
  effective_from: string;
  recorded_at: number;
  recorded_by: string;
  note: string | null;
}

interface Tables {
  business_data_changes: ChangeRow;
}

export interface Change {
  id: string;
  kind: SettingKind;
  key: string;
  value: unknown;
  effectiveFrom: string;
  recordedAt: number;
  recordedBy: string;
  note: string | null;
}

export interface InForce {
  at: string;
  tiers: Record<string, Tier>;
  products: Record<string, Product>;
  policies: Policies;
}

const MIGRATIONS: MigrationList = [
  [
    '0001-changes',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('business_data_changes')
          .addColumn('id', 'text', (column) => column.primaryKey())
          .addColumn('kind', 'text', (column) => column.notNull())
          .addColumn('key', 'text', (column) => column.notNull())
          .addColumn('value', 'text', (column) => column.notNull())
          .addColumn('effective_from', 'text', (column) => column.notNull())
          .addColumn('recorded_at', 'bigint', (column) => column.notNull())
          .addColumn('recorded_by', 'text', (column) => column.notNull())
          .addColumn('note', 'text')
          .execute();
        await db.schema
          .createIndex('business_data_changes_by_key')
          .on('business_data_changes')
          .columns(['kind', 'key', 'effective_from'])
          .execute();
      },
    },
  ],
];

export class BusinessBook {
  readonly #db: Kysely<Tables>;

  private constructor(
    handle: DatabaseHandle,
    private readonly clock: Clock,
  ) {
    this.#db = handle.db as Kysely<Tables>;
  }

  /** Migrates, and records the defaults the first time, as changes in force from the beginning. */
  static async open(handle: DatabaseHandle, clock: Clock): Promise<BusinessBook> {
    await migrate(handle, SERVICE_NAME, MIGRATIONS);
    const book = new BusinessBook(handle, clock);
    const any = await book.#db.selectFrom('business_data_changes').select('id').limit(1).execute();
    if (any.length === 0) {
      await book.set({ kind: 'tier', key: DEFAULT_TIER.key, value: DEFAULT_TIER.value, effectiveFrom: BEGINNING }, 'defaults');
      for (const name of POLICY_NAMES) {
        await book.set({ kind: 'policy', key: name, value: POLICIES[name].default, effectiveFrom: BEGINNING }, 'defaults');
      }
    }
    return book;
  }

  /**
   * Records a change; nothing is ever edited or deleted, so the history stays.
   * @throws BusinessDataError for a bad date, key, policy name or value.
   */
  async set(
    change: { kind: SettingKind; key: string; value: unknown; effectiveFrom: string; note?: string | undefined },
    recordedBy: string,
  ): Promise<Change> {
    if (!isCalendarDate(change.effectiveFrom)) {
      throw new BusinessDataError(
        'BUSINESS_DATA_DATE_INVALID',
        `effective date "${change.effectiveFrom.slice(0, 40)}" is not a real day written YYYY-MM-DD`,
      );
    }
    const value = checkValue(change.kind, change.key, change.value);
    const row: ChangeRow = {
      id: ulid(this.clock.now()),
      kind: change.kind,
      key: change.key,
      value: JSON.stringify(value),
      effective_from: change.effectiveFrom,
      recorded_at: this.clock.now(),
      recorded_by: recordedBy,
      note: change.note ?? null,
    };
    await this.#db.insertInto('business_data_changes').values(row).execute();
    return toChange(row);
  }

  /** Every tier, product and policy as it stood on `day` (the latest change in effect by then wins). */
  async inForce(day: string): Promise<InForce> {
    if (!isCalendarDate(day))
      throw new BusinessDataError('BUSINESS_DATA_DATE_INVALID', `"${day.slice(0, 40)}" is not a real day written YYYY-MM-DD`);
    const rows = await this.#db
      .selectFrom('business_data_changes')
      .selectAll()
      .where('effective_from', '<=', day)
      .orderBy('effective_from')
      .orderBy('recorded_at')
      .orderBy('id')
      .execute();
    const latest = new Map<string, ChangeRow>();
    for (const row of rows) latest.set(`${row.kind}\u0000${row.key}`, row);
    const result: InForce = { at: day, tiers: {}, products: {}, policies: {} as Policies };
    for (const row of latest.values()) {
      const value = JSON.parse(row.value) as unknown;
      if (row.kind === 'tier') result.tiers[row.key] = value as Tier;
      else if (row.kind === 'product') result.products[row.key] = value as Product;
      else (result.policies as Record<string, unknown>)[row.key] = value;
    }
    return result;
  }

  /** All changes to one setting, oldest first. @throws BusinessDataError BUSINESS_DATA_UNKNOWN when there are none. */
  async history(kind: SettingKind, key: string): Promise<Change[]> {
    const rows = await this.#db
      .selectFrom('business_data_changes')
      .selectAll()
      .where('kind', '=', kind)
      .where('key', '=', key)
      .orderBy('recorded_at')
      .orderBy('id')
      .execute();
    if (rows.length === 0) throw new BusinessDataError('BUSINESS_DATA_UNKNOWN', `no ${kind} "${key.slice(0, 64)}" was ever set`);
    return rows.map(toChange);
  }
}

function toChange(row: ChangeRow): Change {
  return {
    id: row.id,
    kind: row.kind as SettingKind,
    key: row.key,
    value: JSON.parse(row.value) as unknown,
    effectiveFrom: row.effective_from,
    recordedAt: row.recorded_at,
    recordedBy: row.recorded_by,
    note: row.note,
  };
}

function checkValue(kind: SettingKind, key: string, value: unknown): unknown {
  if (kind === 'policy') {
    if (!(key in POLICIES)) {
      throw new BusinessDataError(
        'BUSINESS_DATA_UNKNOWN_POLICY',
        `no policy "${key.slice(0, 64)}"; policies are ${POLICY_NAMES.join(', ')}`,
      );
    }
    return parse(POLICIES[key as PolicyName].schema, value, `policy ${key}`);
  }
  const checkedKey = keySchema.safeParse(key);
  if (!checkedKey.success)
    throw new BusinessDataError(
      'BUSINESS_DATA_KEY_INVALID',
      `${kind} key "${key.slice(0, 64)}": ${describeIssues(checkedKey.error)}`,
    );
  return parse(kind === 'tier' ? tierSchema : productSchema, value, `${kind} ${key}`);
}

function parse(schema: ZodType, value: unknown, what: string): unknown {
  const result = schema.safeParse(value);
  if (!result.success) throw new BusinessDataError('BUSINESS_DATA_VALUE_INVALID', `${what}: ${describeIssues(result.error)}`);
  return result.data;
}
