// A server that cannot start leaves nothing behind: when its port is taken, startServer
// rejects with a message naming the address, and the pool, the LISTEN connection and the
// reaper it had started are released (no connection to its database, no handle left in
// the process). A server that did start releases the same on close.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectionsTo, freshDatabase } from '../e2e/support/db.js';
import { startServer } from './server.js';

const handles = () => process.getActiveResourcesInfo().filter((kind) => kind !== 'TTYWrap').sort().join(',');

/** Waits (a bounded time) for the process's handles and the database's connections to settle back. */
async function settled(databaseUrl: string, baseline: string): Promise<{ connections: number; handles: string }> {
  let state = { connections: -1, handles: '' };
  for (let i = 0; i < 50; i++) {
    state = { connections: await connectionsTo(databaseUrl), handles: handles() };
    if (state.connections === 0 && state.handles === baseline) break;
    await sleep(100);
  }
  return state;
}

test('a taken port: startServer rejects naming the address, and releases all it started', async () => {
  const databaseUrl = await freshDatabase();
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => blocker.once('listening', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const baseline = handles();
    await assert.rejects(
      startServer({ databaseUrl, host: '127.0.0.1', port, log: () => undefined }),
      new RegExp(`^Error: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use$`),
    );
    // Past the reaper's first tick: a leaked reaper would open its connection by then.
    await sleep(1500);
    assert.deepEqual(await settled(databaseUrl, baseline), { connections: 0, handles: baseline });

    const server = await startServer({ databaseUrl, host: '127.0.0.1', port: 0, log: () => undefined });
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.ok((await connectionsTo(databaseUrl)) > 0);
    await server.close();
    assert.deepEqual(await settled(databaseUrl, baseline), { connections: 0, handles: baseline });
  } finally {
    blocker.close();
  }
});
