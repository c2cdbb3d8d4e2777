// Credentials bundles: how a service away from the hub gets its signing key, token and the pinned root key.
import { X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { CLIENT_NAME_PATTERN } from '../core/envelope.js';
import { CliError } from './errors.js';
import { exportPrivateKeyPem, importPrivateKeyPem } from '../core/keys.js';
import type { Credentials } from '../core/service.js';

const bundleSchema = z.strictObject({
  version: z.literal(1),
  rootPublicKey: z.string().length(43),
  /** The hub's CA (PEM): the broker must show a certificate it issued. Absent in bundles made before `dctrl tls init`. */
  brokerCa: z.string().refine(isCertificate, 'brokerCa is not a PEM certificate').optional(),
  clients: z
    .array(
      z.strictObject({
        client: z.string().regex(CLIENT_NAME_PATTERN),
        privateKeyPem: z.string(),
        token: z.string(),
        /** Signers this client trusts by key beyond the directory: a device pins BusinessMgr. */
        pinnedKeys: z.record(z.string().regex(CLIENT_NAME_PATTERN), z.string().length(43)).optional(),
      }),
    )
    .min(1),
});

/** Writes a bundle readable only by its owner (it holds private keys): a new file, renamed over the old one. */
export function writeCredentialsBundle(path: string, rootPublicKey: string, clients: Credentials[], brokerCa?: string): void {
  const bundle = {
    version: 1 as const,
    rootPublicKey,
    ...(brokerCa ? { brokerCa } : {}),
    clients: clients.map((c) => ({
      client: c.client,
      privateKeyPem: exportPrivateKeyPem(c.signingKey),
      token: c.token,
      ...(c.pinnedKeys ? { pinnedKeys: c.pinnedKeys } : {}),
    })),
  };
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(bundle, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(temporary, path);
}

/** @throws CliError CLI_CREDENTIALS_INVALID naming what is wrong with the file. */
export function readCredentialsBundle(path: string): Map<string, Credentials> {
  let parsed: z.infer<typeof bundleSchema>;
  try {
    parsed = bundleSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (cause) {
    throw new CliError(
      'CLI_CREDENTIALS_INVALID',
      `credentials file ${path} is unreadable or invalid: ${(cause as Error).message.slice(0, 300)}`,
      {
        cause,
      },
    );
  }
  const result = new Map<string, Credentials>();
  for (const entry of parsed.clients) {
    let signingKey;
    try {
      signingKey = importPrivateKeyPem(entry.privateKeyPem);
    } catch (cause) {
      throw new CliError(
        'CLI_CREDENTIALS_INVALID',
        `credentials file ${path}: the key of "${entry.client}" is not an Ed25519 private key`,
        {
          cause,
        },
      );
    }
    result.set(entry.client, {
      client: entry.client,
      signingKey,
      token: entry.token,
      rootPublicKey: parsed.rootPublicKey,
      ...(parsed.brokerCa ? { brokerCa: parsed.brokerCa } : {}),
      ...(entry.pinnedKeys ? { pinnedKeys: entry.pinnedKeys } : {}),
      // A device that restarts after its first token expired must still get in: keep every renewal.
      saveToken: (token) => {
        const current = readCredentialsBundle(path);
        const updated = [...current.values()].map((c) => (c.client === entry.client ? { ...c, token } : c));
        writeCredentialsBundle(path, parsed.rootPublicKey, updated, parsed.brokerCa);
      },
    });
  }
  return result;
}

function isCertificate(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}
