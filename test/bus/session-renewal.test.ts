// A renewed token reaches the embedded broker only sealed to subscription-mgr by the session's own client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DctrlError } from '../../src/core/errors.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { deriveSealingKey, importSealPublicKey, sealPayload, SESSION_RENEWAL } from '../../src/core/seal.js';
import { openRenewal } from '../../src/subscription-mgr/renewal.js';

const broker = deriveSealingKey(generateSigningKey());
const brokerKey = importSealPublicKey(broker.publicKeyB64);
const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjbGkifQ.c2lnbmF0dXJl';

function renewal(
  issuer: string,
  to: string = SESSION_RENEWAL.reader,
  key = brokerKey,
  id = '01KBZ7X5Q1N6W8D9E2F3G4H5J6',
): Buffer {
  const sealed = sealPayload({ token: TOKEN }, [{ client: to, key }], { id, type: SESSION_RENEWAL.type, issuer });
  return Buffer.from(JSON.stringify({ id, issuer, ...sealed }));
}

const refused = (error: unknown) => error instanceof DctrlError && error.code === 'SUBSCRIPTION_MGR_RENEWAL_INVALID';

test('a renewal sealed to the broker by the session’s client opens to its token; the bytes never hold it', () => {
  const bytes = renewal('cli');
  assert.equal(bytes.indexOf(TOKEN), -1);
  assert.equal(bytes.indexOf(TOKEN.split('.')[2]!), -1);
  assert.equal(openRenewal(bytes, 'cli', broker).toString(), TOKEN);
});

test('a token in clear is refused', () => {
  assert.throws(() => openRenewal(Buffer.from(TOKEN), 'cli', broker), refused);
});

test('a renewal on another client’s session is refused', () => {
  assert.throws(() => openRenewal(renewal('cli'), 'door-1', broker), refused);
});

test('a renewal whose issuer was changed to the session’s does not open', () => {
  const lifted = JSON.parse(renewal('mallory').toString()) as { issuer: string };
  lifted.issuer = 'cli';
  assert.throws(() => openRenewal(Buffer.from(JSON.stringify(lifted)), 'cli', broker), refused);
});

test('a renewal sealed to another key, or to another reader, is refused', () => {
  const other = importSealPublicKey(deriveSealingKey(generateSigningKey()).publicKeyB64);
  assert.throws(() => openRenewal(renewal('cli', SESSION_RENEWAL.reader, other), 'cli', broker), refused);
  assert.throws(() => openRenewal(renewal('cli', 'event-logger'), 'cli', broker), refused);
});
