// The events table refuses UPDATE, DELETE and TRUNCATE, even when they would touch no row.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';

let ts: TestServer;
let client: pg.Client;

before(async () => {
  ts = await startTestServer();
  await ts.client.submitTasks({ command: 'true' });
  client = new pg.Client({ connectionString: ts.databaseUrl });
  await client.connect();
});
after(async () => {
  await client.end();
  await ts.close();
});

const count = async () => Number((await client.query('SELECT count(*) FROM events')).rows[0].count);

for (const statement of [
  "UPDATE events SET data = '{}'::jsonb",
  "UPDATE events SET type = 'x' WHERE false",
  'DELETE FROM events',
  'DELETE FROM events WHERE position < 0',
  'TRUNCATE events',
  'TRUNCATE events CASCADE',
]) {
  test(`events refuses: ${statement}`, async () => {
    const before = await count();
    await assert.rejects(client.query(statement), /append-only/);
    assert.equal(await count(), before);
  });
}

test('events accepts appends, and records the writing transaction', async () => {
  const before = await count();
  await ts.client.submitTasks({ command: 'echo more' });
  assert.equal(await count(), before + 1);
  const row = (await client.query("SELECT xid::text AS xid, meta FROM events WHERE type = 'task.submitted' ORDER BY position DESC LIMIT 1")).rows[0];
  assert.match(row.xid, /^\d+$/);
  assert.equal(typeof row.meta.actor, 'string');
});
