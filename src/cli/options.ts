// Global CLI options and how they become the one validated config.
import { coerceConfigText, loadConfig, resolveConfigFile, type Config } from '../core/config.js';
import { CoreError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { CliError } from './errors.js';

export { VERSION } from '../core/version.js';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  set?: string[];
  logLevel?: string;
  allowPlaintext?: boolean;
}

/** Flags beat env vars beat the config file beat defaults. */
export function configFrom(options: GlobalOptions, extra: Record<string, unknown> = {}): Config {
  const overrides: Record<string, unknown> = {};
  for (const assignment of options.set ?? []) {
    const split = assignment.indexOf('=');
    if (split <= 0) throw new CoreError('CORE_CONFIG_INVALID', `--set expects key=value, got "${assignment}"`);
    const key = assignment.slice(0, split);
    overrides[key] = coerceConfigText(key, assignment.slice(split + 1));
  }
  if (options.dataDir !== undefined) overrides.dataDir = options.dataDir;
  if (options.logLevel !== undefined) overrides['log.level'] = options.logLevel;
  if (options.allowPlaintext) overrides['broker.allowPlaintext'] = true;
  Object.assign(overrides, extra);
  return loadConfig({ file: resolveConfigFile(options.config), env: process.env, overrides });
}

export function loggerFor(config: Config): Logger {
  return createLogger(config.log.level);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A --limit option: a whole number from 1 to `max`. */
export function parseLimit(text: string, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new CliError('CLI_OPTION_INVALID', `--limit expects a whole number from 1 to ${max}, got "${text}"`);
  return value;
}
