// CLI error codes: what the operator did not give the command line.
import { errorClass } from '../core/errors.js';

export const CliErrorCodes = {
  CLI_CREDENTIALS_INVALID: 'The credentials bundle is unreadable or malformed; export it again with `dctrl vault export`.',
  CLI_OPTION_INVALID: 'A command-line option has a value it cannot take; the message says what is allowed.',
  CLI_FAILED: 'The command failed for a reason the message names (a file that cannot be read or written, say).',
  CLI_HUB_UNREACHABLE:
    'The command needs the running hub and could not reach it; start it with `dctrl up`, or point broker.url at it.',
  CLI_NO_VAULT: 'There is no vault in this data folder; run the command where the hub keeps its data, or pass --data-dir.',
  CLI_PLAINTEXT_REFUSED:
    'The command line does not send its token unencrypted to a broker on another machine; use mqtts:// or pass --allow-plaintext.',
  CLI_BROKER_UNTRUSTED:
    'The broker did not show a certificate from the hub’s CA for its name; check broker.url, or the CA (broker.caFile, dataDir/tls/ca.pem).',
  CLI_CREDENTIALS_MISSING: 'A service runs without the Vault in this process and has no credentials; pass --credentials.',
} as const;

export const CliError = errorClass('CliError', CliErrorCodes);
export type CliError = InstanceType<typeof CliError>;
