// Opaque keyset cursors: lists are ordered by id, and a cursor is the last id seen,
// encoded so that clients treat it as a token rather than build it themselves.
import { invalid } from '../errors.js';

export function encodeCursor(lastId: number): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Number.isSafeInteger(value?.after) && value.after >= 0) return value.after;
  } catch {
    // fall through to the error below
  }
  throw invalid([{ field: 'cursor', message: 'not a cursor returned by this API' }]);
}

export function pageOf<T extends { id: number }>(rows: readonly T[], limit: number) {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
}

/** An ILIKE pattern matching values that contain `text` literally. */
export function containsPattern(text: string): string {
  return '%' + text.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}
