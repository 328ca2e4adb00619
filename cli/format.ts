// Terminal input and output of the CLI: flag parsers, aligned tables for people, JSON for
// scripts (--json).
import { InvalidArgumentError } from 'commander';
import { TASK_STATUSES } from '../shared/schemas/task.js';
import type { TaskCounts } from '../shared/schemas/workflow.js';

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => Math.min(60, cell(r[c]).length))));
  const line = (values: string[]) => values.map((v, i) => v.slice(0, 60).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function print(value: unknown, json: boolean, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');
}

/** Task counts in lifecycle order, whatever the order of the keys. */
export function counts(c: TaskCounts): string {
  const parts = TASK_STATUSES.filter((s) => c[s]).map((s) => `${s}=${c[s]}`);
  return parts.length ? parts.join(' ') : 'no tasks';
}

// The parsers of flags, arguments and their environment variables throw commander's
// InvalidArgumentError, so that the refusal names the option (or variable) the value came
// from, before any request is sent.

/** Parses a whole number. */
export function int(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('It must be a whole number.');
  return n;
}

/** Collects whole numbers (ids) given one by one, each refused as it is parsed. */
export const collectInts = (value: string, previous: number[] = []): number[] => [...previous, int(value)];

/** Parses a comma-separated flag. */
export function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Parses a count flag (concurrency, prefetch, GPUs): a whole number, zero or more. */
export function count(value: string): number {
  const n = int(value);
  if (n < 0) throw new InvalidArgumentError('It must not be negative.');
  return n;
}

/** Parses a count that must be 1 or more (files in transfer at once). */
export function positive(value: string): number {
  const n = int(value);
  if (n < 1) throw new InvalidArgumentError('It must be a whole number, 1 or more.');
  return n;
}

/** Parses a size flag: bytes, or a number with K, M, G or T (powers of 1024, as `du -h`), e.g. 500M, 1.5T. */
export function size(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('It must be a size: bytes, or a number with K, M, G or T (e.g. 500M, 50G).');
  return Math.floor(Number(match[1]) * 1024 ** ['', 'K', 'M', 'G', 'T'].indexOf(match[2]!.toUpperCase()));
}

/** Parses a port number. */
export function port(value: string): number {
  const n = int(value);
  if (n < 0 || n > 65535) throw new InvalidArgumentError('It must be a port number, 0 to 65535.');
  return n;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** A size in binary units with one decimal, as `ls -h` would: 512 B, 120.0 MiB. */
export function bytes(n: number): string {
  let unit = 0;
  let value = n;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Seconds as sacct shows elapsed time: [D-]HH:MM:SS. */
export function elapsed(seconds: number): string {
  const s = Math.round(seconds);
  const days = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, '0')).join(':');
  return days ? `${days}-${hms}` : hms;
}

/** A failure that ends the command with its own status rather than 1. */
export class CommandError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** A command given wrongly (a bad argument, a refused URI): status 2, where a failure is 1. */
export class UsageError extends CommandError {
  constructor(message: string) {
    super(message, 2);
  }
}
