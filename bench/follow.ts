// Part 4 of `npm run bench`: many live readers on one labq server process. First
// LABQ_BENCH_FOLLOWERS SSE clients follow the output of LABQ_BENCH_FOLLOW_EXECUTIONS
// executions (GET /executions/{id}/output?follow=1) while one simulated worker sends
// time-stamped lines through its exchange; then as many clients follow the event stream
// (GET /events/stream) while tasks are submitted one a request. A server process reads
// once per wake-up for all its followers (listen/fanout.ts): the figures say what a
// thousand readers cost it (latency, CPU, memory) and whether any reader misses something.
import http from 'node:http';
import { finished } from '../e2e/support/reports.js';
import { LabqClient } from '../shared/client.js';
import type { ExecutionReports } from '../shared/schemas/worker.js';
import { cpuSeconds, load, mib, rss, rssSampler, startLabqServer } from './procs.js';
import type { Helpers } from './protocol.js';
import { registerSimulatedWorkers } from './simulatedWorkers.js';
import { percentiles, sleep } from './support.js';

export interface FollowOptions extends Helpers {
  FOLLOWERS: number;
  FOLLOW_EXECUTIONS: number;
}

const OUTPUT_SECONDS = 20;
const LINES_PER_EXCHANGE = 5;
const EXCHANGE_EVERY_MS = 100; // 50 lines/s: latency, not saturation
const EVENT_SECONDS = 15;
const SUBMIT_EVERY_MS = 50; // 20 tasks/s
const DELIVERY_TIMEOUT_MS = 10_000;

const now = () => performance.timeOrigin + performance.now();

interface SseClient {
  /** Resolves when the server has closed the stream (or the client was closed). */
  ended: Promise<void>;
  close(): void;
}

/** An SSE client on a raw socket: `onMessage` gets each message's event name, data and arrival time. */
function sseClient(agent: http.Agent, url: string, token: string, onMessage: (event: string, data: string, at: number) => void): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url}: HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      let event = 'message';
      let data: string[] = [];
      res.on('data', (text: string) => {
        const at = now();
        buffer += text;
        for (let newline; (newline = buffer.indexOf('\n')) >= 0; ) {
          const field = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (field === '') {
            if (data.length) onMessage(event, data.join('\n'), at);
            event = 'message';
            data = [];
          } else if (field.startsWith('data: ')) data.push(field.slice(6));
          else if (field.startsWith('event: ')) event = field.slice(7);
        }
      });
      res.on('error', () => undefined); // a stream cut short still ends: `ended` and the counts tell
      resolve({ ended: new Promise((r) => res.once('close', r)), close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

/** Opens `count` clients at once; the figure is how long until the server has answered them all. */
async function openClients(count: number, open: (i: number) => Promise<SseClient>): Promise<{ clients: SseClient[]; seconds: number }> {
  const t0 = performance.now();
  const clients = await Promise.all(Array.from({ length: count }, (_, i) => open(i)));
  return { clients, seconds: (performance.now() - t0) / 1000 };
}

/** Waits until `done` or the delivery timeout. */
async function delivered(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + DELIVERY_TIMEOUT_MS; !done() && Date.now() < deadline; ) await sleep(100);
}

/** Runs `step` every `everyMs` for `seconds` (a late step delays the next ones); gives the elapsed seconds. */
async function paced(seconds: number, everyMs: number, step: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let tick = 0; performance.now() - t0 < seconds * 1000; tick++) {
    await sleep(t0 + tick * everyMs - performance.now());
    await step();
  }
  return (performance.now() - t0) / 1000;
}

export async function follow(o: FollowOptions): Promise<void> {
  const { line, fig } = o;
  const F = o.FOLLOWERS;
  const N = o.FOLLOW_EXECUTIONS;
  line(`\n== live readers: ${F} SSE clients on one server process, on the output of ${N} executions, then on the event stream`);
  const db = await o.freshDatabase('labq_follow');
  const server = await startLabqServer(db.url);
  const agent = new http.Agent({ maxSockets: Infinity });
  const clients: SseClient[] = [];
  try {
    const client = new LabqClient({ server: server.url, token: server.token });
    const { id: workerId, instance } = (await registerSimulatedWorkers(client, 'sim-follow', 1, N))[0]!;
    await client.submitTasks({ tasks: Array.from({ length: N }, () => ({ command: 'true', tag: 'default' })) });
    const claim = await client.pollWorker(workerId, { instance, seq: 1, want: N, holding: [], wait_seconds: 0 });
    const executions = claim.assignments.map((a) => a.execution_id);
    if (executions.length !== N) throw new Error(`claimed ${executions.length} executions of ${N}`);
    let seq = 1;
    let refused = 0;
    /** One exchange of the simulated worker, holding every execution; gives the executions whose reports were recorded. */
    const exchange = async (reports: ExecutionReports[]): Promise<number[]> => {
      const answer = await client.pollWorker(workerId, { instance, seq: ++seq, want: 0, holding: executions, wait_seconds: 0, reports });
      refused += answer.reports.filter((r) => !r.recorded).length;
      return answer.reports.filter((r) => r.recorded).map((r) => r.execution_id);
    };
    await sleep(1000);
    const restRss = rss(server.pid);

    // 1. Output followers: client i follows execution i mod N.
    const received = new Array<number>(F).fill(0);
    const lineMs: number[] = [];
    let ends = 0;
    const output = await openClients(F, (i) => sseClient(agent, client.url('executionOutput', { params: { id: executions[i % N]! }, query: { follow: '1' } }), server.token, (event, data, at) => {
      if (event === 'end') ends++;
      if (event !== 'message') return;
      for (const m of (JSON.parse(data).text as string).matchAll(/t=([\d.]+)/g)) {
        lineMs.push(at - Number(m[1]));
        received[i]!++;
      }
    }));
    clients.push(...output.clients);
    await sleep(1000);
    const outputRss = rss(server.pid);
    const nextSeq = new Array<number>(N).fill(0);
    const recorded = new Array<number>(N).fill(0);
    let turn = 0;
    const load0 = load();
    let cpu0 = cpuSeconds(server.pid);
    let sampler = rssSampler({ server: server.pid });
    const outputSeconds = await paced(OUTPUT_SECONDS, EXCHANGE_EVERY_MS, async () => {
      const reports = Array.from({ length: Math.min(LINES_PER_EXCHANGE, N) }, (): ExecutionReports => {
        const k = turn++ % N;
        const data = Buffer.from(`t=${now()}\n`).toString('base64');
        return { execution_id: executions[k]!, reports: [{ kind: 'output', stream: 'stdout', seq: nextSeq[k]++, data }] };
      });
      for (const id of await exchange(reports)) recorded[executions.indexOf(id)]!++;
    });
    const expected = (i: number) => recorded[i % N]!;
    await delivered(() => received.every((n, i) => n >= expected(i)));
    const outputCpu = cpuSeconds(server.pid) - cpu0;
    const outputPeak = sampler.stop().server!;
    const sent = recorded.reduce((a, n) => a + n, 0);
    const short = received.flatMap((n, i) => (n === expected(i) ? [] : [`client ${i} ${n}/${expected(i)}`]));
    // The executions end, so that no lease expires into the second measurement; each follower gets its `end`.
    await exchange(executions.map((id) => ({ execution_id: id, reports: [finished()] })));
    await Promise.race([Promise.all(output.clients.map((c) => c.ended)), sleep(DELIVERY_TIMEOUT_MS)]);
    line(`  output: ${F} clients on GET /executions/{id}/output?follow=1, ${N} executions, ${OUTPUT_SECONDS} s (load before/after: ${load0} / ${load()})`);
    fig('clients connected in', `${output.seconds.toFixed(1)} s`);
    fig('lines sent (recorded) / per second', `${sent} / ${(sent / outputSeconds).toFixed(1)} (${refused} reports refused)`);
    fig('lines received, all clients', `${lineMs.length} (expected ${received.reduce((a, _, i) => a + expected(i), 0)})`);
    fig('line printed → received, p50 / p95 / p99', percentiles(lineMs));
    fig('clients that received another count than was sent', `${short.length}${short.length ? ` (${short.slice(0, 5).join(', ')})` : ''}`);
    fig('clients that received `end` once the executions finished', `${ends} of ${F}`);
    fig('server CPU per line sent', `${((outputCpu / Math.max(1, sent)) * 1000).toFixed(2)} ms (${((outputCpu / outputSeconds) * 100).toFixed(0)}% of one core)`);
    fig('server RSS: at rest / clients connected / peak', `${mib(restRss)} / ${mib(outputRss)} / ${mib(outputPeak)}`);
    for (const c of clients.splice(0)) c.close();

    // 2. Event stream clients, from the log's current end.
    const logNow = () => o.admin(async (c) => (await c.query(`SELECT (SELECT count(*) FROM events)::int AS count,
      (SELECT xid::text || '-' || position FROM events ORDER BY xid DESC, position DESC LIMIT 1) AS head`)).rows[0] as { count: number; head: string }, db.url);
    const log0 = await logNow();
    const events = new Array<number>(F).fill(0);
    const arrivals: [task: number, at: number][] = [];
    const stream = await openClients(F, (i) => sseClient(agent, client.url('streamEvents', { query: { lastEventId: log0.head } }), server.token, (event, data, at) => {
      if (event !== 'message') return;
      const record = JSON.parse(data);
      events[i]!++;
      if (record.type === 'task.submitted') arrivals.push([record.stream_id, at]);
    }));
    clients.push(...stream.clients);
    await sleep(1000);
    const streamRss = rss(server.pid);
    const submittedAt = new Map<number, number>();
    const load1 = load();
    cpu0 = cpuSeconds(server.pid);
    sampler = rssSampler({ server: server.pid });
    const eventSeconds = await paced(EVENT_SECONDS, SUBMIT_EVERY_MS, async () => {
      const t = now();
      const { tasks: [task] } = await client.submitTasks({ command: 'true', tag: 'default' });
      submittedAt.set(task!.id, t);
    });
    const written = (await logNow()).count - log0.count;
    await delivered(() => events.every((n) => n >= written));
    const eventCpu = cpuSeconds(server.pid) - cpu0;
    const eventPeak = sampler.stop().server!;
    const eventMs = arrivals.map(([task, at]) => at - submittedAt.get(task)!);
    line(`  events: ${F} clients on GET /events/stream, one task submitted a request, ${EVENT_SECONDS} s (load before/after: ${load1} / ${load()})`);
    fig('clients connected in', `${stream.seconds.toFixed(1)} s`);
    fig('events written / submits', `${written} / ${submittedAt.size} (${(written / eventSeconds).toFixed(1)} events/s)`);
    fig('events delivered per client, min / max', `${Math.min(...events)} / ${Math.max(...events)} (clients short: ${events.filter((n) => n < written).length})`);
    fig('task.submitted, submit → received, p50 / p99', `${percentiles(eventMs, [50, 99])} (${eventMs.length} deliveries)`);
    fig('server CPU per event written', `${((eventCpu / Math.max(1, written)) * 1000).toFixed(2)} ms (${((eventCpu / eventSeconds) * 100).toFixed(0)}% of one core)`);
    fig('server RSS: clients connected / peak', `${mib(streamRss)} / ${mib(eventPeak)}`);
  } finally {
    for (const c of clients) c.close();
    agent.destroy();
    await server.stop();
  }
}
