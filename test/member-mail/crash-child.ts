// A MemberMail sender in a process of its own, for crash.test.ts to kill in the middle of a handover: it opens
// the outbox in a SQLite file and sends what is due to the SMTP server on 127.0.0.1:<port>, as the service does.
// Usage: node --import tsx test/member-mail/crash-child.ts <sqlite file> <smtp port>
import { systemClock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/logger.js';
import { openDatabase } from '../../src/core/storage/index.js';
import { smtpDelivery } from '../../src/member-mail/delivery.js';
import { OutboxStore } from '../../src/member-mail/outbox.js';
import { Sender } from '../../src/member-mail/sender.js';

const [sqliteFile, port] = process.argv.slice(2);
if (sqliteFile === undefined || port === undefined) throw new Error('usage: crash-child.ts <sqlite file> <smtp port>');

const settings = loadConfig({
  overrides: {
    memberMail: {
      from: 'Dctrl Treasurer <treasurer@dctrl.example>',
      // Long timeouts: the parent kills this process while the server holds an answer back, never a timeout.
      smtp: { host: '127.0.0.1', port: Number(port), requireTls: false, timeoutMs: 60_000 },
    },
  },
}).memberMail;
const database = await openDatabase({ sqliteFile });
const store = await OutboxStore.open(database);
const delivery = smtpDelivery(settings);
const sender = new Sender({ store, delivery, clock: systemClock, settings, logger: silentLogger, onChange: () => undefined });
process.stdout.write('sending\n');
const sent = await sender.sendDue();
// Reached only when the parent did not kill us: it fails the test on this line.
process.stdout.write(`finished: ${sent} sent\n`);
delivery.close();
await database.close();
