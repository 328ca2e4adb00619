// The event catalogue as the user guide shows it: docs/concepts.md's table of event types
// names every type labq writes, so that an auditor reading the log meets none unexplained.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { EVENT_CATALOGUE } from './events.js';

test("docs/concepts.md's event table lists every type of the catalogue", () => {
  const concepts = readFileSync(resolve(import.meta.dirname, '../../docs/concepts.md'), 'utf8');
  const table = concepts.slice(concepts.indexOf('| type | data |'));
  const documented = new Set(
    table.slice(0, table.indexOf('\n\n')).split('\n').flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([a-z_]+\.[a-z_]+)`/g)].map((m) => m[1])),
  );
  assert.deepEqual(Object.keys(EVENT_CATALOGUE).filter((type) => !documented.has(type)), []);
  assert.deepEqual([...documented].filter((type) => !(type in EVENT_CATALOGUE)), [], 'no documented type is unknown');
});
