// What the command line trusts before it hands its token to a broker: a pinned CA, and no plaintext off this machine.
import { existsSync, readFileSync } from 'node:fs';
import { brokerTlsPaths, isLoopbackHost } from '../core/broker-tls.js';
import type { Config } from '../core/config.js';
import { CliError } from './errors.js';

/** The hub's CA (PEM): broker.caFile when set, else dataDir/tls/ca.pem from `dctrl tls init`, else none. */
export function hubCaPem(config: Config): string | undefined {
  const file = config.broker.caFile ?? brokerTlsPaths(config.dataDir).caCert;
  if (config.broker.caFile === undefined && !existsSync(file)) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new CliError('CLI_FAILED', `the broker CA ${file} cannot be read: ${(cause as Error).message}`, { cause });
  }
}

/** @throws CliError CLI_PLAINTEXT_REFUSED for mqtt:// or ws:// to a host not on this machine, unless allowed. */
export function assertTokenStaysPrivate(brokerUrl: string, allowPlaintext: boolean): void {
  const url = new URL(brokerUrl);
  const plaintext = url.protocol === 'mqtt:' || url.protocol === 'ws:';
  if (!plaintext || allowPlaintext || isLoopbackHost(url.hostname)) return;
  throw new CliError(
    'CLI_PLAINTEXT_REFUSED',
    `broker.url ${brokerUrl} is plaintext to a host that is not this machine's loopback, where anyone on the way could copy the command line's token; use mqtts://${url.hostname}:8883 (the hub with broker.tls.enabled), or pass --allow-plaintext if this network is yours alone`,
  );
}
