// Part `floor` of `npm run bench`: the least a dispatch can take on this machine, whatever
// the queue. On the benchmark's PostgreSQL, one task at a time with nothing else running: a
// submit that commits an INSERT and its pg_notify, the LISTEN connection woken, a claim that
// commits an UPDATE … SKIP LOCKED, and `sh -c 'date +%s%N > file'` spawned from this process
// (as small as a node process gets), until `date` runs. No HTTP, no server, no bookkeeping:
// what the dispatch target is measured against.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { tempDir } from './procs.js';
import type { Helpers } from './protocol.js';
import { percentiles, sleep } from './support.js';

export interface FloorOptions extends Helpers {
  LATENCY_SAMPLES: number;
}

export async function floor(o: FloorOptions): Promise<void> {
  o.line(`\n== the floor of a dispatch: ${o.LATENCY_SAMPLES} tasks, one at a time, two commits, a notification and a fork, no queue around them`);
  const db = await o.freshDatabase('labq_floor');
  const submitter = new pg.Client({ connectionString: db.url });
  const claimer = new pg.Client({ connectionString: db.url });
  await submitter.connect();
  await claimer.connect();
  try {
    await submitter.query('CREATE TABLE q (id bigserial PRIMARY KEY, command text NOT NULL, taken boolean NOT NULL DEFAULT false)');
    await submitter.query('CREATE INDEX q_free ON q (id) WHERE NOT taken');
    await claimer.query('LISTEN work');
    let woken: (() => void) | null = null;
    claimer.on('notification', () => woken?.());
    const dir = await tempDir('labq-bench-floor-');
    const steps = { submit: [] as number[], notify: [] as number[], claim: [] as number[], fork: [] as number[], total: [] as number[] };
    const now = () => performance.timeOrigin + performance.now();
    for (let i = 0; i < o.LATENCY_SAMPLES; i++) {
      await sleep(20);
      const file = join(dir, String(i));
      const wake = new Promise<void>((resolve) => (woken = resolve));
      const t0 = now();
      await submitter.query(`WITH i AS (INSERT INTO q (command) VALUES ($1) RETURNING id) SELECT pg_notify('work', id::text) FROM i`,
        [`date +%s%N > ${file}.tmp && mv ${file}.tmp ${file}`]);
      const t1 = now();
      await wake;
      const t2 = now();
      const claimed = await claimer.query(`
        UPDATE q SET taken = true WHERE id = (SELECT id FROM q WHERE NOT taken ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING command`);
      const t3 = now();
      spawn('sh', ['-c', claimed.rows[0].command as string], { stdio: 'ignore' });
      while (!existsSync(file)) await sleep(0.5);
      const ran = Number(readFileSync(file, 'utf8').trim()) / 1e6;
      steps.submit.push(t1 - t0);
      steps.notify.push(t2 - t1);
      steps.claim.push(t3 - t2);
      steps.fork.push(ran - t3);
      steps.total.push(ran - t0);
    }
    const show = (name: string, values: number[]) => o.fig(name, percentiles(values));
    show('submit: INSERT + pg_notify, committed, p50 / p95 / p99', steps.submit);
    show('the notification reaching the LISTEN connection', steps.notify);
    show('claim: UPDATE … SKIP LOCKED, committed', steps.claim);
    show('spawn `sh -c date …` until date runs', steps.fork);
    show('submit → date runs', steps.total);
  } finally {
    await submitter.end();
    await claimer.end();
  }
}
