// Every service authorises its requests by the contract's askers, whatever the broker lets through: a stolen door
// key that signs reporter.report or member-data.query gets a coded refusal and an audit event, never the data.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { MessageRegistry } from '../../src/core/contract.js';
import { RemoteError } from '../../src/core/errors.js';
import { AuditRejected, createRegistry, MemberCommand, MemberQuery, ReportRequest } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createReporter } from '../../src/reporter/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { z } from 'zod';

const EMAIL = 'ada.lovelace@example.org';

test('every request type in the contract says who may ask it', () => {
  const requests = createRegistry()
    .all()
    .filter((spec) => spec.kind === 'request');
  assert.ok(requests.length > 30);
  for (const spec of requests) {
    assert.ok(spec.askers === 'any' || (Array.isArray(spec.askers) && spec.askers.length > 0), `${spec.type} names its askers`);
  }
  for (const spec of createRegistry()
    .all()
    .filter((s) => s.kind !== 'request')) {
    assert.equal(spec.askers, undefined, `${spec.type} is no request and has no askers`);
  }
  const forgetful = {
    type: 'x.y',
    topic: 'dctrl/v1/x/rpc/y',
    kind: 'request',
    issuers: 'any',
    payload: z.object({}),
    description: 'x',
  };
  assert.throws(() => new MessageRegistry([forgetful as never]), /does not say who may ask it/);
});

test('no device may ask for member data or reports', () => {
  for (const spec of [ReportRequest, MemberQuery]) {
    for (const device of ['front-door', 'vending']) assert.equal(MessageRegistry.mayAsk(spec, device), false, spec.type);
  }
});

for (const brokerKind of ['embedded', 'mosquitto'] as const) {
  describe(`askers are checked by the answering service (${brokerKind} broker)`, () => {
    let mosquitto: Mosquitto | undefined;
    let h: Harness;
    let database: DatabaseHandle;
    let services: Service[];
    let cli: BusClient;
    let door: BusClient;
    let auditor: BusClient;
    const audits: { issuer: string; reason: string; claimedIssuer?: string; claimedType?: string }[] = [];
    const bytesToDoor: Buffer[] = [];

    before(async () => {
      if (brokerKind === 'mosquitto') mosquitto = await startMosquitto();
      h = await startHarness({
        ...(mosquitto ? { brokerUrl: mosquitto.url } : {}),
        config: { bus: { requestTimeoutMs: 5_000 } },
      });
      database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
      for (const name of ['business-data', 'member-data', 'reporter']) h.keeper.ensureClient(name);
      await h.vault.publishChanges();
      services = [
        createBusinessData(await h.context('business-data'), database),
        createMemberData(await h.context('member-data'), database),
        createReporter(await h.context('reporter'), database),
      ];
      for (const service of services) await service.start();
      cli = await h.client('cli');
      await cli.request(MemberCommand, { action: 'join', name: 'Ada Lovelace', email: EMAIL, tier: 'member' });
      // The grants a hand-built client has on a broker without our ACLs (and the embedded one if a token were mis-issued).
      door = await h.client('front-door', {
        extra: { pub: ['dctrl/v1/reporter/rpc/report', 'dctrl/v1/member-data/rpc/query'] },
      });
      auditor = await h.client('auditor', { extra: { sub: ['dctrl/v1/+/audit', 'dctrl/v1/front-door/reply/#'] } });
      await auditor.listen(AuditRejected, (payload, envelope) => {
        audits.push({ issuer: envelope.issuer, ...payload });
      });
      await auditor.subscribe('dctrl/v1/front-door/reply/#');
      auditor.onAny((accepted) => {
        if (accepted.topic.startsWith('dctrl/v1/front-door/reply/')) bytesToDoor.push(accepted.raw);
      });
    });
    after(async () => {
      for (const service of services.reverse()) await service.stop();
      await h.stop();
      await database.close();
      await mosquitto?.cleanup();
    });

    const refusal = async (promise: Promise<unknown>): Promise<RemoteError> => {
      const error = await promise.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof RemoteError, `expected a coded refusal, got ${String(error)}`);
      return error;
    };

    test('a door key asking reporter.report or member-data.query is refused with a code, audited, and gets no data', async () => {
      const report = await refusal(door.request(ReportRequest, { report: 'members' }));
      assert.equal(report.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
      assert.equal(report.remoteIssuer, 'reporter');
      assert.match(report.message, /"front-door" may not ask reporter\.report; the contract lets cli, server, .* ask it/);
      const query = await refusal(door.request(MemberQuery, {}));
      assert.equal(query.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
      assert.equal(query.remoteIssuer, 'member-data');

      await eventually(
        () => audits.filter((audit) => audit.reason === 'AUTH_PROXY_ASKER_NOT_ALLOWED').length >= 2,
        () => `two audit events, got ${JSON.stringify(audits)}`,
      );
      const asked = audits.filter((audit) => audit.reason === 'AUTH_PROXY_ASKER_NOT_ALLOWED');
      assert.deepEqual(asked.map((audit) => [audit.issuer, audit.claimedIssuer, audit.claimedType]).sort(), [
        ['member-data', 'front-door', 'member-data.query'],
        ['reporter', 'front-door', 'reporter.report'],
      ]);
      await eventually(() => bytesToDoor.length >= 2, 'the two refusals seen on the door reply topic');
      const all = Buffer.concat(bytesToDoor).toString('utf8');
      assert.ok(!all.includes(EMAIL) && !all.includes('Ada Lovelace'), 'nothing of the member reached the door');
    });

    test('the askers the contract names still get their answers', async () => {
      const { members } = (await cli.request(MemberQuery, {})) as { members: { email: string }[] };
      assert.ok(members.some((member) => member.email === EMAIL));
      const mail = await h.client('member-mail');
      const { json } = (await mail.request(ReportRequest, { report: 'members' })) as { json: { members: unknown[] } };
      assert.equal(json.members.length, 1);
    });
  });
}
