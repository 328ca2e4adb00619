// The ~/.netrc parser: entries on one line or many, quoted tokens, a default entry, and macdef blocks skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetrc } from './netrc.js';

test('netrc: machines, default, macdef', () => {
  const entries = parseNetrc([
    'machine ftp.example.org login alice password s3cret',
    'machine data.example.org',
    '  login bob',
    '  account ignored',
    '  password "p w\\"x"',
    'macdef init',
    'cd /pub',
    'machine inside.macdef login no password no',
    '',
    'default login anonymous password me@example.org',
  ].join('\n'));
  assert.deepEqual(entries.get('ftp.example.org'), { login: 'alice', password: 's3cret' });
  assert.deepEqual(entries.get('data.example.org'), { login: 'bob', password: 'p w"x' });
  assert.equal(entries.has('inside.macdef'), false);
  assert.deepEqual(entries.get(''), { login: 'anonymous', password: 'me@example.org' });
});
