// A broker that cannot prove it is the hub: told apart from one that is merely down, so nobody retries into a trap.
import { AuthProxyError } from './errors.js';

/** OpenSSL's verification failures as Node names them, and Node's own for a name the certificate does not carry. */
const CERTIFICATE_FAILURES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The coded refusal when the connection failed because the broker's certificate did not check out; else undefined. */
export function brokerRefusal(error: Error, url: string): AuthProxyError | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined || !CERTIFICATE_FAILURES.has(code)) return undefined;
  return new AuthProxyError(
    'AUTH_PROXY_BROKER_UNTRUSTED',
    `the broker at ${url} did not prove it is the hub (${code}: ${error.message}); nothing was sent. Check the host in the URL is one its certificate names (\`dctrl tls init --host\`), and that the credentials bundle carries the hub's CA (export it again after \`dctrl tls init\`) or broker.caFile names it`,
    { cause: error },
  );
}
