// `dctrl tls init`: a small CA of the hub's own and the broker's certificate, made with @peculiar/x509 on WebCrypto.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { brokerTlsPaths } from '../core/broker-tls.js';
import type { Clock } from '../core/clock.js';
import { CliError } from './errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
const SERVER_DAYS = 825;
/** Clocks of the devices may lag the hub's a little; a certificate valid from "now" would be refused by them. */
const BACKDATE_MS = 3_600_000;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export interface TlsInitResult {
  dir: string;
  caCreated: boolean;
  caFingerprint: string;
  dnsNames: string[];
  ipAddresses: string[];
  notAfter: Date;
}

/** Names every server certificate carries besides those given: this machine, by every loopback name and its hostname. */
export function defaultServerNames(): { dnsNames: string[]; ipAddresses: string[] } {
  return { dnsNames: ['localhost', hostname().toLowerCase()], ipAddresses: ['127.0.0.1', '::1'] };
}

/**
 * Keeps the CA in dataDir/tls when there is one (devices pin it) and issues the server certificate anew for the names.
 * @throws CliError CLI_OPTION_INVALID for a name that is no DNS name or IP address; CLI_FAILED for an unreadable CA.
 */
export async function initBrokerTls(
  dataDir: string,
  names: { hosts?: string[]; ips?: string[] },
  clock: Clock,
): Promise<TlsInitResult> {
  for (const host of names.hosts ?? [])
    if (!DNS_NAME.test(host)) throw new CliError('CLI_OPTION_INVALID', `--host expects a DNS name like hub.lan, got "${host}"`);
  for (const ip of names.ips ?? [])
    if (isIP(ip) === 0) throw new CliError('CLI_OPTION_INVALID', `--ip expects an IPv4 or IPv6 address, got "${ip}"`);
  const defaults = defaultServerNames();
  const dnsNames = unique([...defaults.dnsNames, ...(names.hosts ?? []).map((host) => host.toLowerCase())]);
  const ipAddresses = unique([...defaults.ipAddresses, ...(names.ips ?? [])]);

  const paths = brokerTlsPaths(dataDir);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const now = clock.now();
  const caCreated = !(existsSync(paths.caCert) && existsSync(paths.caKey));
  const ca = caCreated ? await createCa(now) : await loadCa(paths.caCert, paths.caKey);
  if (caCreated) {
    writePrivate(paths.caKey, await exportKeyPem(ca.privateKey));
    writePublic(paths.caCert, ca.certificate.toString('pem'));
  }

  const serverKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const notAfter = new Date(Math.min(now + SERVER_DAYS * DAY_MS, ca.certificate.notAfter.getTime()));
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${dnsNames[1] ?? dnsNames[0]}, O=dctrl-os`,
    issuer: ca.certificate.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    signingKey: ca.privateKey,
    publicKey: serverKeys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  // The key first: a certificate without its key would make the broker fail at start.
  writePrivate(paths.serverKey, await exportKeyPem(serverKeys.privateKey));
  writePublic(paths.serverCert, server.toString('pem'));
  return {
    dir: paths.dir,
    caCreated,
    caFingerprint: new X509Certificate(ca.certificate.toString('pem')).fingerprint256,
    dnsNames,
    ipAddresses,
    notAfter,
  };
}

interface Ca {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
}

async function createCa(now: number): Promise<Ca> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=dctrl-os hub CA ${randomBytes(4).toString('hex')}, O=dctrl-os`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      // pathLength 0: this CA signs the broker's certificate and no other CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, privateKey: keys.privateKey };
}

async function loadCa(certFile: string, keyFile: string): Promise<Ca> {
  try {
    const certificate = new x509.X509Certificate(readFileSync(certFile, 'utf8'));
    const der = x509.PemConverter.decodeFirst(readFileSync(keyFile, 'utf8'));
    const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
    return { certificate, privateKey };
  } catch (cause) {
    throw new CliError(
      'CLI_FAILED',
      `the CA in ${certFile} and ${keyFile} cannot be read (${(cause as Error).message}); move both away to make a new CA, then export every bundle again`,
      { cause },
    );
  }
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // positive, as RFC 5280 asks
  return bytes.toString('hex');
}

function writePrivate(path: string, pem: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, pem, { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

function writePublic(path: string, pem: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, pem, { mode: 0o644, flag: 'wx' });
  renameSync(temporary, path);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
