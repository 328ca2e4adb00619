// What the failure scenarios ask of a task and its executions while they wait for the
// outcome: its status, its execution, its events, its output.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { parseReport } from '../../worker/spoolFile.js';
import type { TestServer } from './server.js';
import { until } from './worker.js';

export const taskStatus = (ts: TestServer, id: number, status: string) =>
  until(`task ${id} to be ${status}`, async () => (await ts.client.getTask(id)).status === status);

export const executionStatus = (ts: TestServer, id: number, status: string) =>
  until(`execution ${id} to be ${status}`, async () => (await ts.client.getExecution(id)).status === status);

export const executionOf = (ts: TestServer, taskId: number) =>
  until(`task ${taskId} to be assigned`, async () => (await ts.client.getTask(taskId)).execution_id ?? undefined);

export async function history(ts: TestServer, taskId: number) {
  return (await ts.client.taskEvents(taskId)).items;
}

export function successes(events: Awaited<ReturnType<typeof history>>) {
  return events.filter((e) => e.type === 'execution.finished' && e.data.status === 'succeeded');
}

export const outputOf = (ts: TestServer, executionId: number) => ts.client.executionOutput(executionId);

/** Lines that appear more than once in `text`, with their counts. */
export function duplicates(text: string): Record<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n').filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return Object.fromEntries([...counts].filter(([, n]) => n > 1));
}

/**
 * Waits, the server down, until the spool in `stateDir` holds on disk stdout of execution `x`
 * that the server never stored (the database outlives the server: what it stored is all the
 * server got).
 */
export async function spooledPastServer(ts: TestServer, stateDir: string, x: number): Promise<void> {
  const db = new pg.Client({ connectionString: ts.databaseUrl });
  await db.connect();
  const received = Number((await db.query(`SELECT max(seq) FROM execution_output WHERE execution_id = $1 AND stream = 'stdout'`, [x])).rows[0].max);
  await db.end();
  await until(`output of execution ${x} the server never had to be spooled on disk`, async () => {
    const text = await readFile(join(stateDir, 'spool', `${x}.jsonl`), 'utf8').catch(() => '');
    return text.split('\n').map(parseReport).some((report) => report?.kind === 'output' && report.stream === 'stdout' && report.seq > received);
  });
}
