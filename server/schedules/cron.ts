// Cron expressions of schedules, parsed by croner (no dependencies, time zones, seconds).
// labq takes five fields (minute hour day month weekday) or six (seconds first), or one of
// the nicknames of crontab(5) that name a time (@daily…); croner's seventh field (year) is
// refused so that an expression means the same in any cron manual, and @reboot is no time.
import { Cron } from 'croner';
import type { FieldError } from '../errors.js';

/** The nicknames croner reads as times (crontab(5)'s, less @reboot). */
const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

function validTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Why the expression or the time zone is refused, naming the field; empty when both are good. */
export function cronErrors(cron: string, timezone: string, prefix = ''): FieldError[] {
  const errors: FieldError[] = [];
  if (!validTimeZone(timezone)) errors.push({ field: `${prefix}timezone`, message: `unknown time zone "${timezone}": give an IANA name such as Europe/Paris or UTC` });
  const text = cron.trim();
  const parts = text.split(/\s+/).length;
  if (text.startsWith('@')) {
    if (!NICKNAMES.includes(text.toLowerCase())) {
      errors.push({ field: `${prefix}cron`, message: `"${text}" is not a nickname of a time: give one of ${NICKNAMES.join(', ')}, or five fields (minute hour day month weekday)` });
    }
  } else if (parts !== 5 && parts !== 6) {
    errors.push({ field: `${prefix}cron`, message: `has ${parts} fields: give five (minute hour day month weekday) or six (seconds first)` });
  } else {
    try {
      new Cron(cron, { paused: true });
    } catch (error) {
      errors.push({ field: `${prefix}cron`, message: (error as Error).message.replace(/^CronPattern: /, '') });
    }
  }
  // A day no month has (`0 2 31 2 *`): enabled, such a schedule would never be due, and would look disabled.
  if (errors.length === 0 && nextDue(cron, timezone, new Date()) === null) {
    errors.push({ field: `${prefix}cron`, message: 'matches no date (a day its months never have, such as 30 or 31 of February): it would never fire' });
  }
  return errors;
}

function pattern(cron: string, timezone: string): Cron {
  return new Cron(cron, { paused: true, timezone });
}

/** The first due time strictly after `after`, or null when the expression has no more. */
export function nextDue(cron: string, timezone: string, after: Date): Date | null {
  return pattern(cron, timezone).nextRun(after);
}

/** The next `n` due times after `after`. */
export function nextDues(cron: string, timezone: string, after: Date, n: number): Date[] {
  return pattern(cron, timezone).nextRuns(n, after);
}

/**
 * The due times from `from` (included) up to `until` (included): how many (counted up to
 * `cap`: a schedule of every second down for days has too many to count one by one) and the last.
 */
export function duesBetween(cron: string, timezone: string, from: Date, until: Date, cap: number): { count: number; last: Date } {
  const job = pattern(cron, timezone);
  let count = 1;
  for (let next = job.nextRun(from); next && next <= until && count < cap; next = job.nextRun(next)) count++;
  const last = job.previousRuns(1, new Date(until.getTime() + 1))[0] ?? from;
  return { count, last: last < from ? from : last };
}
