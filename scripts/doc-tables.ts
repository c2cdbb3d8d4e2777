// Renders the docs tables from the code (error codes, config keys, the topic table), so they cannot drift.
import { z } from 'zod';
import { AuthProxyErrorCodes } from '../src/auth-proxy/errors.js';
import { BusinessDataErrorCodes } from '../src/business-data/errors.js';
import { MemberDataErrorCodes } from '../src/member-data/errors.js';
import { ReporterErrorCodes } from '../src/reporter/errors.js';
import { PriceNotifierErrorCodes } from '../src/price-notifier/errors.js';
import { ChainNotifierErrorCodes } from '../src/chain-notifier/errors.js';
import { ChainAdaptorErrorCodes } from '../src/chain-adaptor/errors.js';
import { BusinessMgrErrorCodes } from '../src/business-mgr/errors.js';
import { MachineMgrErrorCodes } from '../src/machine-mgr/errors.js';
import { MemberMailErrorCodes } from '../src/member-mail/errors.js';
import { PayoutMgrErrorCodes } from '../src/payout-mgr/errors.js';
import { ServerErrorCodes } from '../src/server/errors.js';
import { MachineNotifierErrorCodes } from '../src/machine-notifier/errors.js';
import { CliErrorCodes } from '../src/cli/errors.js';
import { configKeyPaths, configSchema, envNameFor } from '../src/core/config.js';
import { CoreErrorCodes } from '../src/core/errors.js';
import { BitcoinErrorCodes } from '../src/core/bitcoin/errors.js';
import { createRegistry, Topics } from '../src/core/messages.js';
import { TokenErrorCodes } from '../src/core/token.js';
import { StorageErrorCodes } from '../src/core/storage/errors.js';
import { EventLoggerErrorCodes } from '../src/event-logger/errors.js';
import { SubscriptionMgrErrorCodes } from '../src/subscription-mgr/errors.js';
import { VaultErrorCodes } from '../src/vault/errors.js';

export const ERROR_CODE_GROUPS: Record<string, Record<string, string>> = {
  core: CoreErrorCodes,
  'core (tokens)': TokenErrorCodes,
  'core (storage)': StorageErrorCodes,
  'core (bitcoin)': BitcoinErrorCodes,
  vault: VaultErrorCodes,
  'subscription-mgr': SubscriptionMgrErrorCodes,
  'auth-proxy': AuthProxyErrorCodes,
  'event-logger': EventLoggerErrorCodes,
  'business-data': BusinessDataErrorCodes,
  'member-data': MemberDataErrorCodes,
  reporter: ReporterErrorCodes,
  'price-notifier': PriceNotifierErrorCodes,
  'chain-notifier': ChainNotifierErrorCodes,
  'chain-adaptor': ChainAdaptorErrorCodes,
  'business-mgr': BusinessMgrErrorCodes,
  'machine-mgr': MachineMgrErrorCodes,
  'machine-notifier': MachineNotifierErrorCodes,
  'member-mail': MemberMailErrorCodes,
  'payout-mgr': PayoutMgrErrorCodes,
  server: ServerErrorCodes,
  cli: CliErrorCodes,
};

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderErrors(): string {
  const lines = [
    '# Error codes',
    '',
    'Every error dctrl-os reports carries one of these codes, on the command line (`dctrl: CODE: message`),',
    'in bus replies (`{code, message}`) and in audit events (`reason`). A published code keeps its meaning forever.',
    'Generated from the code by `npm run docs`; a test fails when this file and the code disagree.',
    '',
    '| code | service | what it means and how to fix it |',
    '| --- | --- | --- |',
  ];
  for (const [service, codes] of Object.entries(ERROR_CODE_GROUPS)) {
    for (const [code, meaning] of Object.entries(codes)) lines.push(`| \`${code}\` | ${service} | ${cell(meaning)} |`);
  }
  return lines.join('\n') + '\n';
}

function leafSchema(path: string[]): z.ZodType {
  let node: z.ZodType = configSchema;
  for (const key of path) {
    node = unwrapAll(node);
    node = (node as z.ZodObject).shape[key] as z.ZodType;
  }
  return node;
}

function unwrapAll(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
    current = current._zod.def.innerType as z.ZodType;
  }
  return current;
}

function defaultOf(schema: z.ZodType): string {
  if (schema instanceof z.ZodDefault) return `\`${JSON.stringify(schema._zod.def.defaultValue)}\``;
  return 'not set';
}

export function renderConfiguration(): string {
  const lines = [
    '# Configuration',
    '',
    'One validated config, read once at start: defaults, then the config file (`--config FILE`, or',
    '`./dctrl.config.json` when present), then `DCTRL_*` environment variables, then command-line flags',
    '(`--set key=value`, `--data-dir`, `--broker`, `--only`, `--credentials`). Later sources win. A wrong value or',
    'an unknown key stops the start with one error naming every bad key and what is allowed.',
    '',
    'Secrets are not config: the Vault key comes from `DCTRL_VAULT_PASSPHRASE` or `DCTRL_VAULT_KEY_FILE`',
    '(a file holding 32 random bytes as base64 or hex). With neither, demo mode creates `vault.key` in the data',
    'folder and says so at start.',
    '',
    'Generated from the schema by `npm run docs`.',
    '',
    '| key | environment variable | default | what it does |',
    '| --- | --- | --- | --- |',
  ];
  for (const path of configKeyPaths()) {
    const schema = leafSchema(path);
    lines.push(`| \`${path.join('.')}\` | \`${envNameFor(path)}\` | ${defaultOf(schema)} | ${cell(schema.description ?? '')} |`);
  }
  return lines.join('\n') + '\n';
}

export function renderTopics(): string {
  const lines = ['| type | topic | kind | who may sign (a request: ask) | what it carries |', '| --- | --- | --- | --- | --- |'];
  for (const spec of createRegistry().all()) {
    const signers = spec.issuers === 'any' ? 'any client in the directory' : spec.issuers.join(', ');
    const askers = spec.askers === 'any' ? 'any client in the directory (the service decides)' : spec.askers?.join(', ');
    const issuers = spec.kind === 'request' && askers !== undefined ? askers : signers;
    lines.push(
      `| \`${spec.type}\` | \`${spec.topic}\` | ${spec.kind}${spec.retained ? ', retained' : ''} | ${issuers} | ${cell(spec.description)} |`,
    );
  }
  lines.push(
    `| (broker control) | \`${Topics.sessionRenew}\` | control | the session's own client | A renewed token for the current session; never forwarded. |`,
  );
  return lines.join('\n') + '\n';
}

export const TOPICS_START = '<!-- topics:start (generated by npm run docs) -->';
export const TOPICS_END = '<!-- topics:end -->';

export function withTopics(readme: string): string {
  const start = readme.indexOf(TOPICS_START);
  const end = readme.indexOf(TOPICS_END);
  if (start < 0 || end < start) throw new Error('README.md lacks the topic table markers');
  return readme.slice(0, start + TOPICS_START.length) + '\n\n' + renderTopics() + '\n' + readme.slice(end);
}
