// Opaque keyset cursors: lists are ordered by id, and a cursor is the last id seen (the
// task list's other orders add their sort key), encoded so that clients treat it as a token
// rather than build it themselves.
import { invalid } from '../errors.js';

export function encodeCursor(lastId: number): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

const notACursor = () => invalid([{ field: 'cursor', message: 'not a cursor returned by this API' }]);
const otherOrder = (resumes: unknown, sort: string) =>
  invalid([{ field: 'cursor', message: `this cursor resumes the order ${String(resumes ?? 'id')}, not ${sort}: keep the sort of the first page` }]);

function parseCursor(cursor: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && Number.isSafeInteger(value.after) && value.after >= 0) return value;
  } catch {
    // fall through to the error below
  }
  throw notACursor();
}

export function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  const value = parseCursor(cursor);
  if (value.sort !== undefined) throw otherOrder(value.sort, 'id');
  return value.after as number;
}

/**
 * A cursor of a list in another order than by id: the order, and the sort key and id of the
 * last row seen (keyset pagination on the pair, so pages neither skip nor repeat rows
 * when rows come and go in between).
 */
export function encodeSortedCursor(sort: string, key: string | number, lastId: number): string {
  return Buffer.from(JSON.stringify({ sort, key, after: lastId })).toString('base64url');
}

/** The key and id a cursor of `sort` resumes after; `validKey` checks the key's type. */
export function decodeSortedCursor(cursor: string, sort: string, validKey: (key: unknown) => boolean): { key: unknown; after: number } {
  const value = parseCursor(cursor);
  if (value.sort !== sort) throw otherOrder(value.sort, sort);
  if (!validKey(value.key)) throw notACursor();
  return { key: value.key, after: value.after as number };
}

export function pageOf<T extends { id: number }>(rows: readonly T[], limit: number) {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
}

/** An ILIKE pattern matching values that contain `text` literally. */
export function containsPattern(text: string): string {
  return '%' + text.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}
