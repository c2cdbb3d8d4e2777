// MemberMail's templates: the built-in files and an operator's overrides, compiled strictly and rendered against
// sample mails of every kind when loaded, so a mistake fails at start or at preview and never at send time.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { DateTime } from 'luxon';
import { MAIL_KINDS, type MailKind } from '../core/messages-mail.js';
import { formatCents } from '../core/money.js';
import { packageRoot } from '../core/package-root.js';
import { MemberMailError } from './errors.js';
import { sampleContexts, type MailContext } from './mail-kinds.js';

export const TEMPLATE_PARTS = ['subject', 'text', 'html'] as const;
export type TemplatePart = (typeof TEMPLATE_PARTS)[number];

export interface RenderedMail {
  /** One line, runs of whitespace made one space. */
  subject: string;
  text: string;
  html: string;
}

export interface MailTemplates {
  /**
   * One mail of a kind, written with its facts.
   * @throws MemberMailError MEMBER_MAIL_TEMPLATE_INVALID naming the file, when the facts do not fit a template.
   */
  render<K extends MailKind>(kind: K, context: MailContext[K]): RenderedMail;
  /** The files taken from the override folder (`statement/html.hbs`, `partials/layout.hbs`), the rest are built in. */
  readonly overridden: readonly string[];
}

export interface LoadTemplatesOptions {
  /** memberMail.templatesDir: a folder laid out like the built-in one whose files replace built-in ones file by file. */
  overrideDir?: string | undefined;
  /** The built-in templates; `builtInTemplatesDir()` unless a test points elsewhere. */
  builtInDir?: string | undefined;
}

const HELPER_EXAMPLES = {
  money: 'payment.cents',
  date: 'graceEndsAt',
  datetime: 'payment.at',
  btc: 'payment.sats',
  month: 'period.month',
} as const;
type HelperName = keyof typeof HELPER_EXAMPLES;

const COMPILE_OPTIONS = {
  strict: true,
  knownHelpersOnly: true,
  knownHelpers: Object.fromEntries(Object.keys(HELPER_EXAMPLES).map((name) => [name, true])),
};

/** Where the built-in templates live; they are read from the source tree, so tsc need not copy them. */
export function builtInTemplatesDir(): string {
  return join(packageRoot(), 'src', 'member-mail', 'templates');
}

/**
 * Reads, compiles and checks every template: each kind's subject, text and HTML is rendered with a full and a
 * sparse sample mail (see `sampleContexts`), so a variable a mail does not have fails here, naming file and variable.
 * @throws MemberMailError MEMBER_MAIL_TEMPLATE_MISSING when a file is in neither folder (or the override folder is
 *   not a folder); MEMBER_MAIL_TEMPLATE_INVALID when one does not compile, uses a missing variable or partial, or
 *   the override folder holds a template MemberMail does not use.
 */
export function loadTemplates(options: LoadTemplatesOptions = {}): MailTemplates {
  const sources = readSources(options.builtInDir ?? builtInTemplatesDir(), options.overrideDir);
  const trail = new FileTrail();
  const html = createEnvironment(true, sources.partials, trail);
  const plain = createEnvironment(false, sources.partials, trail);
  const compiled = new Map<string, Handlebars.TemplateDelegate>();
  for (const { file, source } of sources.parts.values()) {
    const escaped = file.endsWith('/html.hbs');
    compiled.set(file, compile(escaped ? html : plain, file, source, escaped));
  }

  const renderPart = (kind: MailKind, part: TemplatePart, context: unknown, sample?: Sample): string => {
    const file = partFile(kind, part);
    const template = compiled.get(file)!;
    try {
      return trail.enter(file, () => template(context));
    } catch (error) {
      const blamed = trail.blamed(error) ?? file;
      throw explain(error, blamed, kind, sources.all.get(blamed) ?? '', sample);
    }
  };
  const renderMail = (kind: MailKind, context: unknown, sample?: Sample): RenderedMail => ({
    subject: oneLine(renderPart(kind, 'subject', context, sample)),
    text: tidyText(renderPart(kind, 'text', context, sample)),
    html: renderPart(kind, 'html', context, sample),
  });

  for (const kind of MAIL_KINDS) {
    const [full, sparse] = sampleContexts(kind);
    for (const [sample, context] of [
      ['full', full],
      ['sparse', sparse],
    ] as const) {
      const mail = renderMail(kind, guarded(context), sample);
      if (mail.subject === '') {
        throw new MemberMailError(
          'MEMBER_MAIL_TEMPLATE_INVALID',
          `${partFile(kind, 'subject')} writes an empty subject ${SAMPLES[sample]}`,
        );
      }
    }
  }
  return { render: (kind, context) => renderMail(kind, context), overridden: sources.overridden };
}

interface TemplateSource {
  /** As the operator sees it: `welcome/html.hbs`, `partials/layout.hbs`. */
  file: string;
  source: string;
}

interface Sources {
  parts: Map<string, TemplateSource>;
  /** By partial name (the file name without .hbs). */
  partials: Map<string, TemplateSource>;
  /** Every source by file. */
  all: Map<string, string>;
  overridden: string[];
}

const partFile = (kind: MailKind, part: TemplatePart): string => `${kind}/${part}.hbs`;
const PARTIAL_NAME = /^[A-Za-z0-9_-]+$/;

function readSources(builtInDir: string, overrideDir: string | undefined): Sources {
  const overrides = overrideDir === undefined ? new Set<string>() : overrideFiles(overrideDir);
  const read = (file: string): TemplateSource => {
    const folder = overrides.has(file) ? overrideDir! : builtInDir;
    const path = join(folder, file);
    if (!existsSync(path)) {
      const where = overrideDir === undefined ? `built in at ${builtInDir}` : `in ${overrideDir} nor built in at ${builtInDir}`;
      throw new MemberMailError('MEMBER_MAIL_TEMPLATE_MISSING', `the template ${file} is missing: it is not ${where}`);
    }
    try {
      return { file, source: readFileSync(path, 'utf8') };
    } catch (error) {
      throw new MemberMailError('MEMBER_MAIL_TEMPLATE_MISSING', `the template ${path} could not be read: ${messageOf(error)}`, {
        cause: error,
      });
    }
  };

  const parts = new Map<string, TemplateSource>();
  for (const kind of MAIL_KINDS) for (const part of TEMPLATE_PARTS) parts.set(partFile(kind, part), read(partFile(kind, part)));
  const partialNames = new Set(hbsNames(join(builtInDir, 'partials')));
  for (const file of overrides)
    if (file.startsWith('partials/')) partialNames.add(file.slice('partials/'.length, -'.hbs'.length));
  const partials = new Map<string, TemplateSource>();
  for (const name of [...partialNames].sort()) partials.set(name, read(`partials/${name}.hbs`));

  const all = new Map([...parts.values(), ...partials.values()].map(({ file, source }) => [file, source]));
  return { parts, partials, all, overridden: [...overrides].sort() };
}

/**
 * The templates in an override folder, as `<kind>/<part>.hbs` and `partials/<name>.hbs`. A template MemberMail
 * would never read (a misspelt kind or part) is refused, so an operator's edit cannot silently do nothing.
 */
function overrideFiles(dir: string): Set<string> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new MemberMailError('MEMBER_MAIL_TEMPLATE_MISSING', `memberMail.templatesDir ${dir} is not a folder`);
  }
  const unused = (what: string, why: string) =>
    new MemberMailError('MEMBER_MAIL_TEMPLATE_INVALID', `${what} in memberMail.templatesDir ${dir} is not used: ${why}`);
  const files = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    if (!entry.isDirectory()) {
      if (entry.name.endsWith('.hbs')) throw unused(entry.name, 'templates go in a folder per kind of mail or in partials/');
      continue;
    }
    const folder = entry.name;
    if (folder === 'partials') {
      for (const name of hbsNames(join(dir, folder))) {
        if (!PARTIAL_NAME.test(name)) throw unused(`partials/${name}.hbs`, 'a partial name has only letters, digits, - and _');
        files.add(`partials/${name}.hbs`);
      }
    } else if ((MAIL_KINDS as readonly string[]).includes(folder)) {
      for (const name of hbsNames(join(dir, folder))) {
        if (!(TEMPLATE_PARTS as readonly string[]).includes(name)) {
          throw unused(`${folder}/${name}.hbs`, `a ${folder} mail has ${TEMPLATE_PARTS.map((part) => `${part}.hbs`).join(', ')}`);
        }
        files.add(`${folder}/${name}.hbs`);
      }
    } else {
      throw unused(`${folder}/`, `the kinds of mail are ${MAIL_KINDS.join(', ')}, and shared pieces go in partials/`);
    }
  }
  return files;
}

/** The names (without .hbs) of the templates in a folder, none when there is no folder. */
function hbsNames(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.hbs') && !name.startsWith('.'))
    .map((name) => name.slice(0, -'.hbs'.length));
}

/** Its own Handlebars (never the global one), with the helpers and every partial, escaping HTML or not at all. */
function createEnvironment(escapeHtml: boolean, partials: Map<string, TemplateSource>, trail: FileTrail): typeof Handlebars {
  const env = Handlebars.create();
  for (const [name, format] of Object.entries(HELPERS)) env.registerHelper(name, helper(name as HelperName, format));
  for (const [name, { file, source }] of partials)
    env.registerPartial(name, trail.partial(file, compile(env, file, source, escapeHtml)));
  return env;
}

/** @throws MemberMailError MEMBER_MAIL_TEMPLATE_INVALID naming the file and line when the template does not compile. */
function compile(env: typeof Handlebars, file: string, source: string, escapeHtml: boolean): Handlebars.TemplateDelegate {
  const options = { ...COMPILE_OPTIONS, noEscape: !escapeHtml };
  // compile() is lazy; precompiling now makes a syntax error or an unknown helper fail at load, not at first use.
  try {
    env.precompile(source, options);
  } catch (error) {
    throw new MemberMailError('MEMBER_MAIL_TEMPLATE_INVALID', syntaxProblem(file, source, error), { cause: error });
  }
  return env.compile(source, options);
}

function syntaxProblem(file: string, source: string, error: unknown): string {
  const lines = messageOf(error)
    .split('\n')
    .filter((text) => text.trim() !== '');
  // A parse error is "Parse error on line N:", the source line, a caret line and "Expecting …, got …".
  const parseError = lines[0]?.startsWith('Parse error') === true;
  if (parseError && lines.at(-1)?.endsWith("got 'EOF'")) {
    // Handlebars notices only at the end of the file; the block left open is the useful place.
    const open = unclosedBlock(source);
    if (open) return `${file} line ${open.line} does not compile: {{${open.opener}}} is never closed (no {{/${open.name}}})`;
  }
  const line = lineOf(error);
  const what = parseError ? lines.at(-1) : stripLocation(lines[0] ?? '');
  return `${file}${line === undefined ? '' : ` line ${line}`} does not compile: ${what}`;
}

/** The innermost {{#block}} (or {{#> partial block}}) left open at the end of the source, by a plain scan. */
function unclosedBlock(source: string): { opener: string; name: string; line: number } | undefined {
  const open: { opener: string; name: string; line: number }[] = [];
  for (const match of source.matchAll(/\{\{~?\s*([#/])\s*(>?\s*[^\s}~]+)/g)) {
    const name = match[2]!.replace(/^>\s*/, '');
    const opener = match[2]!.startsWith('>') ? `#> ${name}` : `#${name}`;
    if (match[1] === '#') open.push({ opener, name, line: 1 + countLines(source.slice(0, match.index)) });
    else if (open.at(-1)?.name === name) open.pop();
  }
  return open.at(-1);
}

/**
 * Which template file was being rendered when an error was thrown. Rendering is synchronous, so one stack per set
 * of templates is enough.
 */
class FileTrail {
  readonly #files: string[] = [];
  readonly #blamed = new WeakMap<object, string>();
  readonly #wrappedBlocks = new WeakSet<object>();

  enter<T>(file: string, work: () => T): T {
    this.#files.push(file);
    try {
      return work();
    } catch (error) {
      // The innermost file that saw the error is the one to blame.
      if (typeof error === 'object' && error !== null && !this.#blamed.has(error)) this.#blamed.set(error, file);
      throw error;
    } finally {
      this.#files.pop();
    }
  }

  blamed(error: unknown): string | undefined {
    return typeof error === 'object' && error !== null ? this.#blamed.get(error) : undefined;
  }

  /** A partial that keeps the trail, and keeps the text of a partial block (`{{#> layout}}…{{/layout}}`) its caller's. */
  partial(file: string, template: Handlebars.TemplateDelegate): Handlebars.TemplateDelegate {
    return (context: unknown, options?: Handlebars.RuntimeOptions) => {
      const data = options?.data as Record<string, unknown> | undefined;
      const block = data?.['partial-block'];
      const caller = this.#files.at(-1);
      if (data && typeof block === 'function' && caller !== undefined && !this.#wrappedBlocks.has(block)) {
        const callersBlock = (...args: unknown[]): unknown =>
          this.enter(caller, () => (block as (...args: unknown[]) => unknown)(...args));
        this.#wrappedBlocks.add(callersBlock);
        data['partial-block'] = callersBlock;
      }
      return this.enter(file, () => template(context, options));
    };
  }
}

/** A helper given something it cannot show; the message says which helper and what it got. */
class HelperInputError extends Error {}

interface Space {
  currency: string;
  timezone: string;
}

const HELPERS: Record<HelperName, (value: unknown, space: () => Space) => string> = {
  money: (value, space) => formatMoney(integer('money', value, 'whole cents'), space().currency),
  date: (value, space) => formatDate(integer('date', value, 'a time in epoch milliseconds'), space().timezone),
  datetime: (value, space) => formatDateTime(integer('datetime', value, 'a time in epoch milliseconds'), space().timezone),
  btc: (value) => formatBtc(integer('btc', value, 'whole satoshis')),
  month: (value) => {
    if (typeof value !== 'string' || !MONTH.test(value))
      throw new HelperInputError(`{{month}} expects a month written YYYY-MM, got ${shown(value)}`);
    return formatMonth(value);
  },
};

function helper(name: HelperName, format: (value: unknown, space: () => Space) => string): Handlebars.HelperDelegate {
  return (...args: unknown[]) => {
    // Handlebars passes its options last, so one value means two arguments.
    if (args.length !== 2) {
      throw new HelperInputError(
        `{{${name}}} takes one value, like {{${name} ${HELPER_EXAMPLES[name]}}}; it got ${args.length - 1}`,
      );
    }
    const options = args[1] as Handlebars.HelperOptions;
    return format(args[0], () => spaceOf(options));
  };
}

/** The space's currency and zone, from the mail being rendered (`@root.space`). */
function spaceOf(options: Handlebars.HelperOptions): Space {
  const space = (options.data as { root?: { space?: Partial<Record<keyof Space, unknown>> } } | undefined)?.root?.space;
  if (typeof space?.currency !== 'string' || typeof space.timezone !== 'string') {
    throw new HelperInputError('the helpers need space.currency and space.timezone in the mail, and it has none');
  }
  return { currency: space.currency, timezone: space.timezone };
}

function integer(helperName: HelperName, value: unknown, expected: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  const hint = value === null ? ' (put it inside an {{#if}} for when it is empty)' : '';
  throw new HelperInputError(`{{${helperName}}} expects ${expected}, got ${shown(value)}${hint}`);
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** 7500, "CAD" → "75.00 CAD"; -250 → "-2.50 CAD". */
export function formatMoney(cents: number, currency: string): string {
  return `${formatCents(cents)} ${currency}`;
}

/** 12345 → "0.00012345 BTC", by moving the decimal point in the digits: a float would lose satoshis of large sums. */
export function formatBtc(sats: number): string {
  const digits = String(Math.abs(sats)).padStart(9, '0');
  return `${sats < 0 ? '-' : ''}${digits.slice(0, -8)}.${digits.slice(-8)} BTC`;
}

/** Epoch ms → "27 November 2026", the day in the space's zone. */
export function formatDate(ms: number, zone: string): string {
  return inZone(ms, zone).toFormat('d MMMM yyyy');
}

/** Epoch ms → "27 November 2026, 14:05", in the space's zone. */
export function formatDateTime(ms: number, zone: string): string {
  return inZone(ms, zone).toFormat('d MMMM yyyy, HH:mm');
}

/** "2026-10" → "October 2026". */
export function formatMonth(month: string): string {
  return DateTime.fromFormat(month, 'yyyy-MM', { zone: 'UTC', locale: 'en' }).toFormat('MMMM yyyy');
}

function inZone(ms: number, zone: string): DateTime {
  // English month names whatever the host's locale: the mails are written in English.
  const time = DateTime.fromMillis(ms, { zone, locale: 'en' });
  if (!time.isValid) throw new HelperInputError(`"${zone}" is not a time zone luxon knows (space.timezone)`);
  return time;
}

type Sample = 'full' | 'sparse';
const SAMPLES: Record<Sample, string> = {
  full: '(with the full sample mail, where every optional fact is present)',
  sparse: '(with the sparse sample mail, where optional facts are null and lists empty)',
};

/** A variable the template reads that the mail does not have, seen by the guard the samples are wrapped in. */
class MissingVariable extends Error {
  constructor(
    readonly variable: string,
    readonly within: string,
  ) {
    super(`"${variable}" is not defined${within === '' ? '' : ` in ${within}`}`);
  }
}

/**
 * The sample wrapped so that reading any property it lacks throws. Handlebars' strict mode checks only the last
 * name of a `{{a.b}}` it writes out; values handed to helpers (`{{#if deposti}}`, `{{money paymnt.cents}}`) are
 * read without a check, and a misspelt one would quietly be empty.
 */
function guarded<T>(value: T, path = ''): T {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      // Handlebars asks any value it writes out whether it is already HTML.
      if (typeof key === 'string' && !(key in target) && key !== 'toHTML') throw new MissingVariable(key, path);
      const child: unknown = Reflect.get(target, key, receiver);
      return typeof key === 'string' ? guarded(child, pathTo(path, key)) : child;
    },
  });
}

const pathTo = (path: string, key: string): string =>
  /^\d+$/.test(key) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/** What went wrong in a template, said in terms of the file, the line and the variable. */
function explain(error: unknown, file: string, kind: MailKind, source: string, sample: Sample | undefined): MemberMailError {
  if (error instanceof MemberMailError) return error as MemberMailError;
  const invalid = (message: string) =>
    new MemberMailError('MEMBER_MAIL_TEMPLATE_INVALID', sample === undefined ? message : `${message} ${SAMPLES[sample]}`, {
      cause: error,
    });
  const message = messageOf(error);
  const line = lineOf(error);
  const at = line === undefined ? file : `${file} line ${line}`;
  const path = pathAt(source, error);

  if (error instanceof MissingVariable) {
    const mentioned = lineMentioning(source, error.variable);
    const where = mentioned === undefined ? file : `${file} line ${mentioned}`;
    const within = error.within === '' ? '' : ` (looked up in ${error.within})`;
    return invalid(`${where} uses the variable "${error.variable}"${within}, which a ${kind} mail does not have`);
  }
  // Handlebars' strict mode: '"foo" not defined in [object Object] - 3:5', or '… in null' when what holds it is empty.
  const strict = /^"([^"]+)" not defined in (.*?)(?: - \d+:\d+)?$/s.exec(message);
  const fromNothing = /Cannot read properties of (null|undefined) \(reading '([^']+)'\)/.exec(message);
  const empty = strict && (strict[2] === 'null' || strict[2] === 'undefined') ? strict[2] : fromNothing?.[1];
  if (empty !== undefined) {
    const variable = path ?? strict?.[1] ?? fromNothing?.[2];
    const holder = path?.includes('.') ? `"${path.slice(0, path.lastIndexOf('.'))}"` : 'what holds it';
    return invalid(
      `${at} reads "${variable}", but ${holder} is ${empty} in this ${kind} mail; put it inside an {{#if}} for when it is empty`,
    );
  }
  if (strict) return invalid(`${at} uses the variable "${path ?? strict[1]}", which a ${kind} mail does not have here`);
  const partial = /^The partial (.+) could not be found/.exec(message);
  if (partial) return invalid(`${at} uses the partial "${partial[1]}", but there is no partials/${partial[1]}.hbs`);
  return invalid(`${at}: ${stripLocation(message)}`);
}

/** The variable as written where Handlebars says an error is (`deposit.qrCid`), when it names a place on one line. */
function pathAt(source: string, error: unknown): string | undefined {
  const { lineNumber, endLineNumber, column, endColumn } = error as Record<string, unknown>;
  if (typeof lineNumber !== 'number' || lineNumber !== endLineNumber) return undefined;
  if (typeof column !== 'number' || typeof endColumn !== 'number') return undefined;
  const text = source.split('\n')[lineNumber - 1]?.slice(column, endColumn);
  return text !== undefined && /^[\w.@/-]{1,100}$/.test(text) ? text : undefined;
}

/** The first line where the name appears inside {{…}}, to point at a variable Handlebars gave no place for. */
function lineMentioning(source: string, name: string): number | undefined {
  const word = new RegExp(`(^|[^\\w-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w-])`);
  for (const match of source.matchAll(/\{\{[^}]*\}\}/g)) {
    if (word.test(match[0])) return 1 + countLines(source.slice(0, match.index));
  }
  return undefined;
}

const countLines = (text: string): number => text.split('\n').length - 1;

function lineOf(error: unknown): number | undefined {
  const lineNumber = (error as { lineNumber?: unknown } | null)?.lineNumber;
  if (typeof lineNumber === 'number') return lineNumber;
  const match = /(?:Parse|Lexical) error on line (\d+)/.exec(messageOf(error));
  return match ? Number(match[1]) : undefined;
}

const stripLocation = (message: string): string => message.replace(/ - \d+:\d+$/, '');
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const oneLine = (subject: string): string => subject.replace(/\s+/g, ' ').trim();

/**
 * No trailing spaces (but the "-- " that starts a signature), at most one blank line in a row (what {{#if}}s leave
 * behind), one newline at the end.
 */
function tidyText(text: string): string {
  return `${text
    .replace(/(?<!^--)[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}
