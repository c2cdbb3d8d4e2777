// `dctrl tls init`: the hub's CA and the broker's certificate, for `broker.tls.enabled`.
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { print } from '../command-kit.js';
import { collect, configFrom, type GlobalOptions } from '../options.js';

export function registerTlsCommands(program: Command): void {
  const tls = program.command('tls').description('TLS for the broker: the hub’s own CA and the broker’s certificate');
  tls
    .command('init')
    .description(
      'make a CA (kept when there is one) and issue the broker’s certificate for this machine and the names given, in dataDir/tls',
    )
    .option('--host <name>', 'a DNS name devices use to reach the hub, e.g. hub.lan (repeatable)', collect)
    .option('--ip <address>', 'an address devices use to reach the hub (repeatable)', collect)
    .action(async (options: { host?: string[]; ip?: string[] }, command: Command) => {
      const config = configFrom(command.optsWithGlobals<GlobalOptions>());
      // Loaded here only: the X.509 library needs a global Reflect polyfill that no service should carry.
      const { initBrokerTls } = await import('../tls.js');
      const result = await initBrokerTls(config.dataDir, { hosts: options.host ?? [], ips: options.ip ?? [] }, systemClock);
      print(
        [
          result.caCreated ? `CA created: ${result.dir}/ca.pem (its key ca.key, mode 0600)` : `CA kept: ${result.dir}/ca.pem`,
          `CA fingerprint (SHA-256): ${result.caFingerprint}`,
          `broker certificate: ${result.dir}/server.pem (key server.key, mode 0600), valid until ${result.notAfter.toISOString()}`,
          `  for ${[...result.dnsNames, ...result.ipAddresses].join(', ')}`,
          'Serve it with `dctrl up --set broker.tls.enabled=true`; bundles from `dctrl vault export` now carry the CA.',
        ].join('\n'),
      );
    });
}
