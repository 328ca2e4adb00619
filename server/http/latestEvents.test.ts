// GET /events/latest: the audit view's pages, newest first and paged backwards, filtered by
// stream, type and actor, with the head cursor that a client follows the stream from.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { LabqClient } from '../../shared/client.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

test('pages go newest first and backwards without gap or overlap; the head is the newest event; the stream from the head gives only newer ones', async () => {
  const ids: number[] = [];
  for (let i = 0; i < 7; i++) ids.push((await ts.client.createWorkflow({ name: `latest ${i}` })).id);
  const seen: number[] = [];
  let before: string | undefined;
  const head = await until('the last workflow is readable', async () => {
    const page = await ts.client.call('latestEvents', { query: { stream_type: 'workflow', limit: 3 } });
    return page.items[0]?.stream_id === ids[6] && page;
  });
  assert.equal(head.head, head.items[0]!.id, 'nothing was written after the last workflow');
  for (;;) {
    const page = await ts.client.call('latestEvents', { query: { stream_type: 'workflow', limit: 3, before } });
    seen.push(...page.items.map((e) => e.stream_id));
    if (!page.next_before) break;
    before = page.next_before;
  }
  assert.deepEqual(seen, [...ids].reverse());

  await ts.client.createWorkflow({ name: 'after the head' });
  const controller = new AbortController();
  for await (const message of ts.client.stream('streamEvents', { lastEventId: head.head!, signal: controller.signal })) {
    assert.equal(JSON.parse(message.data).data.name, 'after the head');
    controller.abort();
    break;
  }
});

test('the actor filter gives what one user or token did', async () => {
  const token = await ts.client.createToken({ name: 'latest-operator', role: 'operator' });
  const operator = new LabqClient({ server: ts.url, token: token.token });
  const mine = (await operator.createWorkflow({ name: 'by the operator' })).id;
  await ts.client.createWorkflow({ name: 'by the admin' });
  const page = await until('the operator\'s event is readable', async () => {
    const answer = await ts.client.call('latestEvents', { query: { actor: 'latest-operator', limit: 10 } });
    return answer.items.length > 0 && answer;
  });
  assert.deepEqual(page.items.map((e) => [e.type, e.stream_id, e.meta.actor]), [['workflow.created', mine, 'latest-operator']]);
});

test('a bad cursor or limit is a 400 naming the field', async () => {
  for (const [query, field] of [['before=12', 'before'], ['limit=0', 'limit'], ['stream_type=nope', 'stream_type']] as const) {
    const answer = await http(ts, 'GET', `/api/v1/events/latest?${query}`);
    assert.equal(answer.status, 400, query);
    assert.ok(answer.json.errors.some((e: { field: string }) => e.field.startsWith(field)), `${query}: ${answer.text}`);
  }
});
