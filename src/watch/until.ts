/**
 * `--until`: when the watch loop ends, as a point in time (epoch ms). Pure: `now` is passed in.
 */
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';

const EXPECTED = 'expected a time like 2026-11-23T18:00:00Z or "2026-11-23 18:00" (local time), or a duration like 30m or 2h';

// 2026-11-23T18:00, 2026-11-23 18:00:30.5, 2026-11-23T18:00:00Z, 2026-11-23T18:00+01:00
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * The end time `text` names, in epoch ms:
 * - an ISO-8601 date and time: `2026-11-23T18:00:00Z`, `2026-11-23T18:00+01:00`, or without a
 *   zone in local time, `T` or a space between date and time: `2026-11-23 18:00`;
 * - a duration from `now`: `90s`, `30m`, `2h`, `1d`, or a number of seconds.
 *
 * A date without a time of day is refused (midnight at its start, or its end?), as is a time
 * not after `now`. Throws a UsageError (exit 2) saying what was expected.
 */
export function parseUntil(text: string, now: number): number {
  const value = text.trim();
  const problem = (message: string) => new UsageError(`--until ${JSON.stringify(text)}: ${message}`);
  if (value === '') throw problem(EXPECTED);

  const ms = parseDuration(value);
  if (ms !== undefined) {
    if (ms <= 0) throw problem('the duration must be longer than 0, like 30m or 2h');
    return now + ms;
  }

  const match = DATE_TIME.exec(value);
  if (!match) throw problem(EXPECTED);
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  if (hour === undefined) {
    throw problem(`add a time of day, like "${year}-${month}-${day} 18:00" (local time) or ${year}-${month}-${day}T18:00:00Z`);
  }
  const parts = {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second ?? 0),
    ms: fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000),
  };
  const invalid = checkParts(parts);
  if (invalid !== undefined) throw problem(`not a valid time: ${invalid}`);

  let at: number;
  if (zone === undefined) {
    at = new Date(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second, parts.ms).getTime();
  } else {
    const offset = offsetMinutes(zone);
    if (offset === undefined) throw problem(`not a valid time: time zone offset ${zone} is out of range`);
    at = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second, parts.ms) - offset * 60_000;
  }
  if (!Number.isFinite(at)) throw problem(EXPECTED);
  if (at <= now) throw problem(`is in the past (it is ${formatLocal(now)} now); give a later time or a duration like 2h`);
  return at;
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

function checkParts({ year, month, day, hour, minute, second }: Parts): string | undefined {
  if (month < 1 || month > 12) return `month ${month} is out of range 1-12`;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) return `day ${day} is out of range 1-${days} for ${year}-${String(month).padStart(2, '0')}`;
  if (hour > 23) return `hour ${hour} is out of range 0-23`;
  if (minute > 59) return `minute ${minute} is out of range 0-59`;
  if (second > 59) return `second ${second} is out of range 0-59`;
  return undefined;
}

/** `Z` -> 0, `+01:00`/`+0100`/`+01` -> 60, `-05:30` -> -330; undefined when out of range. */
function offsetMinutes(zone: string): number | undefined {
  if (zone.toUpperCase() === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes);
}

/** `2026-11-23 18:00:00 +01:00`: local time with its offset, for messages. */
function formatLocal(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number) => String(value).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}`;
}
