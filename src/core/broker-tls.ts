// Where the hub keeps its TLS files, and which broker addresses never leave this machine.
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';

/** The files `dctrl tls init` writes into dataDir/tls and the broker serves by default. */
export function brokerTlsPaths(dataDir: string): {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
} {
  const dir = join(dataDir, 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
  };
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for localhost, 127.0.0.0/8 and ::1 (a URL's hostname may keep IPv6 brackets). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  const family = isIP(bare);
  return family !== 0 && loopback.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** The loopback address of the same family: where a plaintext listener goes once TLS serves the network. */
export function loopbackOf(host: string): string {
  if (isLoopbackHost(host)) return host;
  return isIP(host) === 6 ? '::1' : '127.0.0.1';
}
