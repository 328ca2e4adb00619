// The pool's statements are prepared once per connection: a parameterised statement of a
// transaction shows in the connection's pg_prepared_statements and is bound again without a
// new Parse; a statement without parameters, or outside a transaction, is not prepared; a connection goes back to the pool with its statements
// (no DISCARD ALL); slonik's error classes still match; and a statement whose result columns
// changed under it (a migration by a newer server) fails once: slonik replaces the
// connection, and the next call prepares it again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { freshDatabase } from '../../e2e/support/db.js';
import { connectPool, type Pool } from './pool.js';

let url: string;
let pool: Pool;
let admin: pg.Client;

before(async () => {
  url = await freshDatabase();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE TABLE things (id int PRIMARY KEY, label text)');
  await admin.query("INSERT INTO things VALUES (1, 'one'), (2, 'two')");
  pool = await connectPool(url, { maximumPoolSize: 1 });
});
after(async () => {
  await pool.end();
  await admin.end();
});

const preparedTexts = (db: Pool) => db.anyFirst(sql.unsafe`SELECT statement FROM pg_prepared_statements WHERE name LIKE 'labq_%'`);

test('a parameterised statement of a transaction is prepared on its connection, and kept when the connection goes back to the pool', async () => {
  const label = (id: number) => pool.transaction((tx) => tx.oneFirst(sql.unsafe`SELECT label FROM things WHERE id = ${id}`));
  assert.equal(await label(1), 'one');
  // One connection in the pool: this is the same session, after its release.
  const texts = await preparedTexts(pool);
  assert.ok(texts.some((t) => String(t).includes('SELECT label FROM things WHERE id = $1')), `prepared: ${JSON.stringify(texts)}`);
  // Used again with another value: the same statement, bound, not a second one.
  assert.equal(await label(2), 'two');
  const again = await preparedTexts(pool);
  assert.equal(again.filter((t) => String(t).includes('FROM things WHERE id = $1')).length, 1);
});

test('a statement outside a transaction is planned at every call, also after a transaction on its connection ended', async () => {
  await pool.transaction((tx) => tx.query(sql.unsafe`SELECT 1 FROM things WHERE id = ${1}`));
  for (let i = 0; i < 7; i++) assert.equal(await pool.oneFirst(sql.unsafe`SELECT label FROM things WHERE id > ${0} ORDER BY id LIMIT 1`), 'one');
  const texts = await preparedTexts(pool);
  assert.ok(!texts.some((t) => String(t).includes('WHERE id > $1')), `prepared: ${JSON.stringify(texts)}`);
});

test('a statement without parameters is not prepared', async () => {
  await pool.query(sql.unsafe`SELECT count(*) FROM things WHERE label <> 'none'`);
  const texts = await preparedTexts(pool);
  assert.ok(!texts.some((t) => String(t).includes("label <> 'none'")));
});

test("errors keep slonik's classes", async () => {
  await assert.rejects(
    pool.query(sql.unsafe`INSERT INTO things (id, label) VALUES (${1}, ${'again'})`),
    (error) => error instanceof UniqueIntegrityConstraintViolationError,
  );
});

test('a statement whose result columns changed under it fails once, then is prepared afresh', async () => {
  const read = () => pool.transaction((tx) => tx.any(sql.unsafe`SELECT * FROM things WHERE id = ${1}`));
  assert.deepEqual([...(await read())], [{ id: 1, label: 'one' }]);
  await admin.query('ALTER TABLE things ADD COLUMN note text');
  await assert.rejects(read(), /cached plan must not change result type/);
  assert.deepEqual([...(await read())], [{ id: 1, label: 'one', note: null }]);
  assert.deepEqual([...(await read())], [{ id: 1, label: 'one', note: null }]);
});

test('a pool for generic plans (the exchanges\' batches) plans once on every connection; the others keep PostgreSQL\'s choice', async () => {
  const generic = await connectPool(url, { maximumPoolSize: 2, genericPlans: true, lockTimeout: '500ms' });
  try {
    assert.equal(await generic.oneFirst(sql.unsafe`SHOW plan_cache_mode`), 'force_generic_plan');
    assert.equal(await generic.oneFirst(sql.unsafe`SHOW lock_timeout`), '500ms', 'with the other settings of its sessions');
    assert.equal(await generic.transaction((tx) => tx.oneFirst(sql.unsafe`SHOW plan_cache_mode`)), 'force_generic_plan');
  } finally {
    await generic.end();
  }
  assert.equal(await pool.oneFirst(sql.unsafe`SHOW plan_cache_mode`), 'auto');
});
