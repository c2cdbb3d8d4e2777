// Vault error codes: secrets at rest, keys and tokens.
import { errorClass } from '../core/errors.js';

export const VaultErrorCodes = {
  VAULT_WRONG_KEY: 'The vault key or passphrase does not open this vault; use the one it was created with.',
  VAULT_KEY_FILE_INVALID: 'DCTRL_VAULT_KEY_FILE must name a file holding 32 random bytes as base64 or hex.',
  VAULT_SECRET_CORRUPT: 'An encrypted secret failed its integrity check; restore data/vault.db from a backup.',
  VAULT_UNKNOWN_CLIENT: 'No signing key exists for this client; create one with `dctrl vault export <client>`.',
  VAULT_UNKNOWN_TOKEN: 'No token with this id was issued; `dctrl token list` shows the ids.',
  VAULT_TOKEN_REVOKED: 'The token was revoked; issue a new one with `dctrl token issue`.',
  VAULT_RENEW_MISMATCH: 'A client asked to renew a token that names another client.',
  VAULT_RENEW_NOT_BUS_TOKEN:
    'A client asked on the bus to renew an API token; API tokens are not renewed, issue a new one with `dctrl token issue <client> --api`.',
  VAULT_CLIENT_RETIRED:
    'The client was retired (`dctrl keys retire`); give it a new key with `dctrl keys rotate` to bring it back.',
  VAULT_GRANTS_INVALID: 'A topic filter in the grants is not a valid MQTT filter ("#" only last, "+" a whole level).',
  VAULT_UNKNOWN_SECRET: 'There is no secret by that name; vault.secretReaders lists the secrets and who may read them.',
  VAULT_SECRET_NOT_ALLOWED: 'This client may not read that secret; vault.secretReaders says who may.',
  VAULT_CLIENT_NAME_INVALID: 'Client names are lowercase letters, digits and "-", starting with a letter.',
} as const;

export type VaultErrorCode = keyof typeof VaultErrorCodes;

export const VaultError = errorClass('VaultError', VaultErrorCodes);
export type VaultError = InstanceType<typeof VaultError>;
