// Reads the members CSV for `dctrl member import`: a header row, then one member a row, each kept with its line.
import { CsvError, parse } from 'csv-parse/sync';
import { CliError } from '../errors.js';

const REQUIRED_COLUMNS = ['name', 'email', 'tier'] as const;
const OPTIONAL_COLUMNS = ['fob'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];

/** One member as written in the file; `fobNumber` is the 10 digits, still to be hashed. */
export interface CsvMember {
  line: number;
  name: string;
  email: string;
  tier: string;
  fobNumber?: string;
}

const COLUMNS_HINT = `the header row names the columns ${REQUIRED_COLUMNS.join(', ')} and optionally ${OPTIONAL_COLUMNS.join(', ')}`;

/**
 * Parses the file; nothing is sent when any of it is malformed.
 * @throws CliError CLI_FAILED whose message starts with the line that is wrong.
 */
export function readMemberCsv(content: Buffer): CsvMember[] {
  const records: { line: number; fields: string[] }[] = [];
  const lines = lineCounter(content);
  let recordStart = 0;
  try {
    parse(content, {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      on_record: (fields: string[], context) => {
        records.push({ line: lines.lineOfRecordAt(recordStart), fields });
        recordStart = context.bytes;
        return null;
      },
    });
  } catch (error) {
    if (error instanceof CsvError)
      throw new CliError('CLI_FAILED', describeCsvError(error, lines.lineOfRecordAt(recordStart), records[0]?.fields.length), {
        cause: error,
      });
    throw error;
  }
  const [header, ...rows] = records;
  if (!header) throw new CliError('CLI_FAILED', `the file is empty; ${COLUMNS_HINT}`);
  const positions = columnPositions(header.fields, header.line);
  if (rows.length === 0) throw new CliError('CLI_FAILED', `the file has a header row but no members below it`);
  return rows.map(({ line, fields }) => {
    const field = (column: Column) => {
      const position = positions.get(column);
      return position === undefined ? '' : (fields[position] ?? '');
    };
    const fobNumber = field('fob');
    return {
      line,
      name: field('name'),
      email: field('email'),
      tier: field('tier'),
      ...(fobNumber === '' ? {} : { fobNumber }),
    };
  });
}

function columnPositions(header: string[], line: number): Map<Column, number> {
  const known: readonly string[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS];
  const positions = new Map<Column, number>();
  header.forEach((cell, position) => {
    const column = cell.toLowerCase();
    if (!known.includes(column))
      throw new CliError('CLI_FAILED', `line ${line}: "${cell.slice(0, 40)}" is not a column; ${COLUMNS_HINT}`);
    if (positions.has(column as Column))
      throw new CliError('CLI_FAILED', `line ${line}: the column "${column}" appears twice in the header row`);
    positions.set(column as Column, position);
  });
  const missing = REQUIRED_COLUMNS.filter((column) => !positions.has(column));
  if (missing.length > 0)
    throw new CliError('CLI_FAILED', `line ${line}: the header row has no ${missing.join(', ')} column; ${COLUMNS_HINT}`);
  return positions;
}

function describeCsvError(error: CsvError, recordLine: number, headerWidth: number | undefined): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return `line ${recordLine}: a quoted field is never closed (a " is missing)`;
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const found = Array.isArray(error.record) ? `${error.record.length} fields` : 'a different number of fields';
      return `line ${recordLine}: ${found} where the header row has ${headerWidth ?? 'another number'}; a field with a comma in it needs "quotes"`;
    }
    default:
      return `line ${recordLine}: not valid CSV (${error.message})`;
  }
}

/**
 * Line numbers counted from the bytes, not taken from csv-parse: it counts a CRLF inside a quoted field as two
 * lines, and reports an unclosed quote at the end of the file rather than where it opens.
 */
function lineCounter(content: Buffer): { lineOfRecordAt(offset: number): number } {
  const newline = 0x0a;
  const carriageReturn = 0x0d;
  let counted = 0;
  let line = 1;
  return {
    /** The line a record starting at `offset` (the end of the previous one; only ever growing) stands on. */
    lineOfRecordAt(offset) {
      for (; counted < offset && counted < content.length; counted += 1) if (content[counted] === newline) line += 1;
      let recordLine = line;
      for (let index = offset; content[index] === newline || content[index] === carriageReturn; index += 1)
        if (content[index] === newline) recordLine += 1;
      return recordLine;
    },
  };
}
