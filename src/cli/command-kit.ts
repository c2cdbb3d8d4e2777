// What most commands share: printing a line, a bus session from the command's options, and flags that take one of
// a few words.
import type { Command } from 'commander';
import type { BusClient } from '../auth-proxy/index.js';
import { withBus } from './bus-session.js';
import { CliError } from './errors.js';
import { configFrom, type GlobalOptions } from './options.js';

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function onBus<T>(command: Command, work: (bus: BusClient) => Promise<T>): Promise<T> {
  return withBus(configFrom(command.optsWithGlobals<GlobalOptions>()), work);
}

/** A parser for an option that takes one of a few words; the error names the flag and every word it takes. */
export function oneOf<T extends string>(flag: string, allowed: readonly T[]): (text: string) => T {
  return (text) => {
    if (!(allowed as readonly string[]).includes(text))
      throw new CliError('CLI_OPTION_INVALID', `${flag} expects one of ${allowed.join(', ')}; got "${text.slice(0, 40)}"`);
    return text as T;
  };
}
