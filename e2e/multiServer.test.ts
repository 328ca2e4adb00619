// Two servers on one database: any server serves any client. An SSE client of one sees
// events written through the other, a worker parked on one is woken by a submit through the
// other, and exactly one of them leads the reaper.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, until } from './support/worker.js';

let a: TestServer;
let b: TestServer;
const stops: (() => Promise<void>)[] = [];

before(async () => {
  a = await startTestServer();
  b = await startTestServer({ databaseUrl: a.databaseUrl });
});
after(async () => {
  for (const stop of stops) await stop();
  await b.close();
  await a.close();
});

test('an SSE client of one server receives the events written through the other', async () => {
  const controller = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    try {
      for await (const m of b.client.stream('streamEvents', { signal: controller.signal, query: { type: 'workflow.created' } })) {
        seen.push(JSON.parse(m.data).data.name);
        if (seen.includes('through-a')) return;
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await a.client.createWorkflow({ name: 'through-a' });
  const guard = setTimeout(() => controller.abort(), 20_000);
  await reading;
  clearTimeout(guard);
  assert.ok(seen.includes('through-a'));
});

test('a worker polling one server runs a task submitted through the other', async () => {
  const worker = await startTestWorker(b, { tags: ['multi'], pollWaitSeconds: 60 });
  stops.push(() => worker.stop());
  const { tasks: [t] } = await a.client.submitTasks({ command: 'echo ran', tag: 'multi' });
  const done = await until('the task to succeed', async () => (await a.client.getTask(t!.id)).status === 'succeeded' && true);
  assert.equal(done, true);
  assert.equal(await a.client.executionOutput((await a.client.getTask(t!.id)).execution_id!), 'ran\n');
});

test('exactly one server leads the reaper', async () => {
  await until('a leader', async () => a.server.reaperLeads() || b.server.reaperLeads());
  assert.notEqual(a.server.reaperLeads(), b.server.reaperLeads());
});
