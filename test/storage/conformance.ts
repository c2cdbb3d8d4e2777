// The storage conformance suite: written once, run against every database the query layer speaks.
import assert from 'node:assert/strict';
import type { DatabaseFactory } from '../helpers/databases.js';
import { after, before, describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import {
  integerSum,
  migrate,
  StorageError,
  translateDriverError,
  type DatabaseHandle,
  type MigrationList,
} from '../../src/core/storage/index.js';

interface Tables {
  widgets: { id: string; name: string; cents: number; at: number };
}

const base: MigrationList = [
  [
    '0001-widgets',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('widgets')
          .addColumn('id', 'text', (column) => column.primaryKey())
          .addColumn('name', 'text', (column) => column.notNull().unique())
          .addColumn('cents', 'bigint', (column) => column.notNull())
          .addColumn('at', 'bigint', (column) => column.notNull())
          .execute();
      },
    },
  ],
];

export function runStorageConformance(name: string, factory: DatabaseFactory): void {
  describe(`storage conformance: ${name}`, () => {
    let handle: DatabaseHandle;
    let db: Kysely<Tables>;
    before(async () => {
      handle = await factory.create();
      db = handle.db as Kysely<Tables>;
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('migrations run once, are recorded, and only new ones run later', async () => {
      assert.deepEqual(await migrate(handle, 'test-service', base), ['0001-widgets']);
      assert.deepEqual(await migrate(handle, 'test-service', base), []);
      const more: MigrationList = [
        ...base,
        [
          '0002-widgets-index',
          {
            up: async (kdb: Kysely<unknown>) =>
              void (await kdb.schema.createIndex('widgets_by_at').on('widgets').column('at').execute()),
          },
        ],
      ];
      assert.deepEqual(await migrate(handle, 'test-service', more), ['0002-widgets-index']);
    });

    test('a failing migration is named and leaves nothing of itself behind', async () => {
      const createPartial = (kdb: Kysely<unknown>) => kdb.schema.createTable('partial').addColumn('id', 'text').execute();
      const broken: MigrationList = [
        [
          '0001-ok',
          { up: async (kdb: Kysely<unknown>) => void (await kdb.schema.createTable('half').addColumn('id', 'text').execute()) },
        ],
        [
          '0002-broken',
          {
            async up(kdb: Kysely<unknown>) {
              await createPartial(kdb); // its first statement succeeds...
              await sql`THIS IS NOT SQL`.execute(kdb); // ...its second fails
            },
          },
        ],
      ];
      await assert.rejects(migrate(handle, 'broken-service', broken), (error: unknown) => {
        assert.ok(error instanceof StorageError);
        assert.equal(error.code, 'STORAGE_MIGRATION_FAILED');
        assert.match(error.message, /"0002-broken"/);
        return true;
      });
      // The fixed migration creates the same table: it can only succeed if the failed one left nothing.
      const fixed: MigrationList = [
        broken[0]!,
        ['0002-broken', { up: async (kdb: Kysely<unknown>) => void (await createPartial(kdb)) }],
      ];
      assert.deepEqual(await migrate(handle, 'broken-service', fixed), ['0002-broken']);
    });

    test('migrators starting at once run each migration exactly once', async () => {
      const list: MigrationList = ['a', 'b', 'c'].map(
        (table) =>
          [
            `0001-${table}`,
            {
              up: async (kdb: Kysely<unknown>) =>
                void (await kdb.schema.createTable(`conc_${table}`).addColumn('id', 'text').execute()),
            },
          ] as const,
      );
      const results = await Promise.all([
        migrate(handle, 'concurrent', list),
        migrate(handle, 'concurrent', list),
        migrate(handle, 'concurrent', list),
      ]);
      assert.deepEqual(results.flat().sort(), ['0001-a', '0001-b', '0001-c']);
    });

    test('integers round-trip exactly as numbers, up to 2^53 - 1', async () => {
      const big = Number.MAX_SAFE_INTEGER;
      await db.insertInto('widgets').values({ id: 'w-big', name: 'big', cents: big, at: -7_500 }).execute();
      const row = await db.selectFrom('widgets').selectAll().where('id', '=', 'w-big').executeTakeFirstOrThrow();
      assert.equal(row.cents, big);
      assert.equal(typeof row.cents, 'number');
      assert.equal(row.at, -7_500);
    });

    test('an integer beyond 2^53 is refused on read, never rounded', async () => {
      await sql`INSERT INTO widgets (id, name, cents, at) VALUES ('w-huge', 'huge', 9007199254740993, 0)`.execute(db);
      await assert.rejects(db.selectFrom('widgets').select('cents').where('id', '=', 'w-huge').execute(), {
        code: 'STORAGE_INTEGER_OVERFLOW',
      });
      await db.deleteFrom('widgets').where('id', '=', 'w-huge').execute();
    });

    test('text keeps every character', async () => {
      const name = 'Zoë 🛠️ \u0000-free, "quoted", \'single\', back\\slash';
      await db
        .insertInto('widgets')
        .values({ id: 'w-text', name: name.replace('\u0000', ''), cents: 1, at: 1 })
        .execute();
      const row = await db.selectFrom('widgets').select('name').where('id', '=', 'w-text').executeTakeFirstOrThrow();
      assert.equal(row.name, name.replace('\u0000', ''));
    });

    test('a duplicate unique key is STORAGE_CONFLICT, and the first row is kept', async () => {
      await db.insertInto('widgets').values({ id: 'w-1', name: 'unique-name', cents: 1, at: 1 }).execute();
      const error = await db
        .insertInto('widgets')
        .values({ id: 'w-2', name: 'unique-name', cents: 2, at: 2 })
        .execute()
        .then(() => undefined, translateDriverError);
      assert.ok(error instanceof StorageError, String(error));
      assert.equal(error.code, 'STORAGE_CONFLICT');
      const rows = await db.selectFrom('widgets').select('id').where('name', '=', 'unique-name').execute();
      assert.deepEqual(rows, [{ id: 'w-1' }]);
    });

    test('a transaction that fails leaves nothing behind', async () => {
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('widgets').values({ id: 'w-tx', name: 'in-tx', cents: 5, at: 5 }).execute();
          throw new Error('abort');
        }),
        /abort/,
      );
      const rows = await db.selectFrom('widgets').select('id').where('id', '=', 'w-tx').execute();
      assert.deepEqual(rows, []);
    });

    test('sums of integer cents are exact integers', async () => {
      await db
        .insertInto('widgets')
        .values([
          { id: 's-1', name: 's1', cents: 7_500, at: 10 },
          { id: 's-2', name: 's2', cents: -2_501, at: 10 },
        ])
        .execute();
      const { total } = await db
        .selectFrom('widgets')
        .select(integerSum('cents').as('total'))
        .where('at', '=', 10)
        .executeTakeFirstOrThrow();
      assert.equal(total, 4_999);
      const none = await db
        .selectFrom('widgets')
        .select(integerSum('cents').as('total'))
        .where('at', '=', -1)
        .executeTakeFirstOrThrow();
      assert.equal(none.total, 0);
    });
  });
}
