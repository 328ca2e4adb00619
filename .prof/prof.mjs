import { startTestServer } from '../dist/e2e/support/server.js';
import { startTestWorker, taskEnded } from '../dist/e2e/support/worker.js';
import { LabqClient } from '../dist/shared/client.js';
import { sql } from 'slonik';
const N = Number(process.env.N ?? 400), SLOTS = Number(process.env.SLOTS ?? 4);
const ts = await startTestServer();
const log = [];
const orig = LabqClient.prototype.pollWorker;
LabqClient.prototype.pollWorker = async function (id, body, signal) {
  const t0 = performance.now();
  const rec = { reports: body.reports?.length ?? 0, want: body.want, t0 };
  log.push(rec);
  try { const r = await orig.call(this, id, body, signal); rec.ms = performance.now() - t0; rec.assign = r.assignments.length; return r; }
  catch (e) { rec.ms = performance.now() - t0; rec.err = signal?.aborted ? 'aborted' : e.message; throw e; }
};
const pool = ts.server.pool;
const stats = () => pool.any(sql.unsafe`SELECT relname, seq_scan, seq_tup_read, idx_scan, n_tup_upd, n_tup_ins FROM pg_stat_user_tables ORDER BY relname`);
const w = await startTestWorker(ts, { concurrency: SLOTS, tags: ['p'] });
await new Promise(r => setTimeout(r, 500));
await pool.query(sql.unsafe`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
await pool.query(sql.unsafe`SELECT pg_stat_statements_reset()`);
const s0 = await stats();
log.length = 0;
const t0 = performance.now();
const { tasks } = await ts.client.submitTasks({ tasks: Array.from({ length: N }, () => ({ command: 'true', tag: 'p' })) });
for (const t of tasks) await taskEnded(ts, t.id);
const secs = (performance.now() - t0) / 1000;
console.log(`${N} tasks in ${secs.toFixed(1)} s = ${(N / secs).toFixed(1)}/s; exchanges ${log.length}; aborted ${log.filter(l => l.err === 'aborted').length}; with reports ${log.filter(l => l.reports).length}; reports carried ${log.reduce((a, l) => a + l.reports, 0)}`);
const ms = log.filter(l => l.reports && !l.err).map(l => l.ms).sort((a, b) => a - b);
console.log('exchange-with-reports ms p50', ms[Math.floor(ms.length / 2)]?.toFixed(1), 'p90', ms[Math.floor(ms.length * 0.9)]?.toFixed(1));
await new Promise(r => setTimeout(r, 1000));
const s1 = await stats();
for (const r of s1) { const b = s0.find(x => x.relname === r.relname); const d = k => Number(r[k]) - Number(b?.[k] ?? 0); if (d('seq_scan') || d('idx_scan')) console.log(r.relname.padEnd(28), 'seq', d('seq_scan'), 'rows', d('seq_tup_read'), 'idx', d('idx_scan'), 'upd', d('n_tup_upd'), 'ins', d('n_tup_ins')); }
console.log(log.slice(0, 40).map(l => `${(l.t0 - log[0].t0).toFixed(0)}:r${l.reports}w${l.want}a${l.assign ?? '-'}${l.err ? '!' + l.err : ''}(${l.ms?.toFixed(0)})`).join(' '));
const top = await pool.any(sql.unsafe`SELECT calls, round(total_exec_time::numeric,1) AS ms, round((total_exec_time/calls)::numeric,3) AS per, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25`);
for (const r of top) console.log(String(r.ms).padStart(8), String(r.calls).padStart(6), String(r.per).padStart(7), r.q);
for (const status of ['running', 'succeeded']) {
  try {
    await pool.transaction(async (tx) => {
      const plan = await tx.anyFirst(sql.unsafe`EXPLAIN (ANALYZE, BUFFERS) UPDATE tasks t SET status = e.data->>'task_status', updated_at = e.created_at FROM jsonb_to_recordset(${sql.jsonb([{stream_id: 1, version: 3, data: {task_id: tasks[5].id, task_status: status}, created_at: new Date().toISOString()}])}) AS e(stream_id bigint, version int, data jsonb, created_at timestamptz) WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${sql.array([tasks[5].id], 'int8')})`);
      console.log(plan.join('\n'));
      throw new Error('rollback');
    });
  } catch {}
}
await w.stop(); await ts.close();
