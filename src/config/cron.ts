/**
 * The cron dialect of `schedule:`, checked without croner: a strict syntax check of our own
 * that accepts a subset of what croner 9 accepts (tests hold the two together), so that a
 * schedule the config accepted never fails later, and validating a config (or `mailpoll
 * run`) never loads croner. The watch loads croner for the times themselves
 * (`watch/schedule.ts`), handing it the expression as `parseCron` normalised it.
 *
 * The cron dialect:
 * - 5 fields `minute hour day-of-month month weekday`, or 6 with seconds first;
 * - each field `*`, a value, a range `1-5`, a step `*\/15`, `0-30/10`, `5/10`, or a list of
 *   these `1,15,30`; months `JAN`-`DEC`, weekdays `SUN`-`SAT` (0 and 7 are Sunday);
 * - day of month `L` (the last day); weekday `5#2` (the second Friday), `5#L` (the last);
 * - `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@hourly`;
 * - local time, unless prefixed `TZ=Area/City ` (or `CRON_TZ=`): `TZ=Europe/Berlin 0 9 * * 1-5`;
 * - as in classic cron, a day-of-month and a weekday that are both restricted match either.
 */

/** undefined when the cron expression is valid, else a one-line reason (for config errors). */
export function checkCron(expression: string): string | undefined {
  const parsed = parseCron(expression);
  return 'reason' in parsed ? parsed.reason : undefined;
}

interface Field {
  name: string;
  min: number;
  max: number;
  /** croner's largest step for the field (the number of slots). */
  maxStep: number;
  /** Names, index = value. */
  names?: readonly string[];
}

const MONTHS = ['', 'JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const SECOND: Field = { name: 'second', min: 0, max: 59, maxStep: 60 };
const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59, maxStep: 60 },
  { name: 'hour', min: 0, max: 23, maxStep: 24 },
  { name: 'day of month', min: 1, max: 31, maxStep: 31 },
  { name: 'month', min: 1, max: 12, maxStep: 12, names: MONTHS },
  { name: 'weekday', min: 0, max: 7, maxStep: 7, names: WEEKDAYS },
];
const DAY_OF_MONTH = FIELDS[2]!;
const WEEKDAY = FIELDS[4]!;

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Days in each month (index 1-12), February in a leap year. */
const MONTH_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES = ['', 'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export type ParsedCron = { pattern: string; timezone: string | undefined } | { reason: string };

interface ParsedField {
  /** The field in croner's canonical form: numbers only. */
  text: string;
  /** Every value it matches (`L` and `#` excluded). */
  values: Set<number>;
  /** Day of month: `L` is one of its items. */
  last: boolean;
}

/** The expression as croner should get it (numbers only, single spaces), or why it is invalid. */
export function parseCron(expression: string): ParsedCron {
  let rest = expression.trim();
  let timezone: string | undefined;
  const zone = /^(?:CRON_)?TZ=(\S*)(?:\s+|$)/.exec(rest);
  if (zone) {
    timezone = zone[1]!;
    if (timezone === '') return { reason: 'TZ= needs a time zone, like TZ=Europe/Berlin' };
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    } catch {
      return { reason: `unknown time zone "${timezone}" (use a name like Europe/Berlin or UTC)` };
    }
    rest = rest.slice(zone[0].length);
  }
  if (rest === '') return { reason: timezone === undefined ? 'it is empty' : `nothing follows TZ=${timezone}` };
  if (rest.startsWith('@')) {
    const expanded = NICKNAMES[rest.toLowerCase()];
    if (expanded === undefined) return { reason: `unknown nickname ${rest}; use ${Object.keys(NICKNAMES).join(', ')}` };
    rest = expanded;
  }
  if (rest.includes('?')) return { reason: '"?" is not supported; use *' };
  const parts = rest.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    return { reason: `expected 5 fields (minute hour day-of-month month weekday) or 6 with seconds first, got ${parts.length}` };
  }
  const fields = parts.length === 6 ? [SECOND, ...FIELDS] : FIELDS;
  const parsed: ParsedField[] = [];
  for (const [index, part] of parts.entries()) {
    const result = parseField(part, fields[index]!);
    if ('reason' in result) return result;
    parsed.push(result);
  }
  const [day, month, weekday] = parsed.slice(-3) as [ParsedField, ParsedField, ParsedField];
  const never = neverRuns(day, month, weekday);
  if (never !== undefined) return { reason: never };
  return { pattern: parsed.map((field) => field.text).join(' '), timezone };
}

function parseField(text: string, field: Field): ParsedField | { reason: string } {
  const values = new Set<number>();
  const items: string[] = [];
  let last = false;
  for (const item of text.split(',')) {
    const where = `${field.name} "${text}"`;
    if (item === '') return { reason: `${where}: has an empty list entry; check the commas` };
    if (field === DAY_OF_MONTH && item.toUpperCase() === 'L') {
      // croner takes one L; a second one would be an illegal character to it.
      if (!last) items.push('L');
      last = true;
      continue;
    }
    const parsed = parseItem(item, field);
    if ('reason' in parsed) return { reason: `${field.name}: ${parsed.reason}` };
    for (const value of parsed.values) values.add(value);
    items.push(parsed.text);
  }
  return { text: items.join(','), values, last };
}

/** One list entry: `*`, `*\/S`, `A`, `A-B`, `A/S`, `A-B/S`; on weekdays also `A#N` and `A#L`. */
function parseItem(item: string, field: Field): { text: string; values: number[] } | { reason: string } {
  if (field === WEEKDAY) {
    const nth = /^([^#]+)#(.*)$/.exec(item);
    if (nth) {
      if (/[-/*,]/.test(nth[1]!)) return { reason: `"${item}": # follows a single weekday, like 5#2` };
      const day = parseValue(nth[1]!, field, false);
      if (typeof day === 'string') return { reason: day };
      const which = nth[2]!.toUpperCase();
      if (!/^[1-5L]$/.test(which)) return { reason: `"${item}": after # comes 1-5 (the nth such weekday of the month) or L (the last)` };
      return { text: `${day === 7 ? 0 : day}#${which}`, values: [] };
    }
    if (/^\w+L$/i.test(item)) {
      return { reason: `"${item}" is not supported; write ${item.slice(0, -1)}#L for the last one of the month` };
    }
  }
  const match = /^([^/-]+)(?:-([^/-]+))?(?:\/([^/-]*))?$/.exec(item);
  if (!match) return { reason: `"${item}" is not a value, a range (1-5), a step (*/15) or a list (1,15)` };
  const [, low, high, step] = match;
  if (step === '' || (step !== undefined && !/^\d+$/.test(step))) return { reason: `"${item}": the step after / must be a number` };
  const stepBy = step === undefined ? 1 : Number(step);
  if (stepBy < 1 || stepBy > field.maxStep) return { reason: `"${item}": step ${stepBy} is out of range 1-${field.maxStep}` };

  // An open end stops where croner's slots do: weekdays at 6 (7 is Sunday again).
  const end = field === WEEKDAY ? 6 : field.max;
  let from: number;
  let to: number;
  if (low === '*') {
    if (high !== undefined) return { reason: `"${item}" is not a range; write ${field.min}-${field.max}` };
    from = field.min;
    to = end;
  } else {
    const first = parseValue(low!, field, false);
    if (typeof first === 'string') return { reason: first };
    from = first;
    if (high === undefined) {
      to = step === undefined ? first : end;
    } else {
      const second = parseValue(high, field, true);
      if (typeof second === 'string') return { reason: second };
      to = second;
      if (to < from) return { reason: `"${item}" runs backwards; write the lower value first` };
    }
  }
  const values: number[] = [];
  for (let value = from; value <= to; value += stepBy) values.push(field === WEEKDAY && value === 7 ? 0 : value);
  const text = low === '*' ? (step === undefined ? '*' : `*/${stepBy}`) : `${from}${high === undefined ? '' : `-${to}`}${step === undefined ? '' : `/${stepBy}`}`;
  return { text, values };
}

/** A number or a name in the field's range, or the reason it is not. `SUN` ends a range as 7. */
function parseValue(token: string, field: Field, rangeEnd: boolean): number | string {
  let value: number;
  if (/^\d+$/.test(token)) {
    value = Number(token);
  } else {
    const index = field.names?.indexOf(token.toUpperCase()) ?? -1;
    if (index <= 0 && !(index === 0 && field === WEEKDAY)) {
      const names = field.names === undefined ? '' : ` or a name ${field.names.filter(Boolean).slice(0, 3).join(', ')} ...`;
      return `"${token}" is not a number${names}`;
    }
    value = field === WEEKDAY && index === 0 && rangeEnd ? 7 : index;
  }
  if (value < field.min || value > field.max) return `${token} is out of range ${field.min}-${field.max}`;
  return value;
}

/**
 * A day of month that no month in the expression has (`0 0 30 2 *`), when the weekday does not
 * widen it: croner would find no run at all.
 */
function neverRuns(day: ParsedField, month: ParsedField, weekday: ParsedField): string | undefined {
  if (day.text === '*' || day.last || weekday.text !== '*') return undefined;
  const months = [...month.values].sort((a, b) => a - b);
  const smallest = Math.min(...day.values);
  if (months.some((value) => smallest <= MONTH_DAYS[value]!)) return undefined;
  const names = months.map((value) => MONTH_NAMES[value]!);
  const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)!}`;
  return `never runs: ${list} ${names.length === 1 ? 'has' : 'have'} no day ${smallest}`;
}
