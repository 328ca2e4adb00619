// A graphile-worker pool in a process of its own, for bench/protocol.ts: one task, `sh`,
// that runs its payload's command (default `true`) as a new process, like a labq bare
// task. argv: connection string, concurrency. Prints `ready` once it runs; SIGTERM stops it.
import { spawn } from 'node:child_process';
import { Logger, run } from 'graphile-worker';

const [connectionString, concurrencyArg] = process.argv.slice(2);
if (!connectionString || !concurrencyArg) throw new Error('usage: gwWorker.js CONNECTION_STRING CONCURRENCY');

const runner = await run({
  connectionString,
  concurrency: Number(concurrencyArg),
  noHandleSignals: true,
  logger: new Logger(() => () => undefined),
  taskList: {
    sh: (payload) =>
      new Promise<void>((resolve, reject) => {
        const command = (payload as { cmd?: string } | null)?.cmd ?? 'true';
        const child = spawn('sh', ['-c', command], { stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sh exited with ${code}`))));
      }),
  },
  preset: {
    worker: {
      // Batched completion (0.18: completeJobBatchDelay, -1 disables it). 0 batches the
      // completions of one event-loop turn without holding jobs locked any longer.
      completeJobBatchDelay: Number(process.env.LABQ_BENCH_GW_COMPLETE_DELAY ?? 0),
      // Batched fetching is off by default in graphile-worker; LABQ_BENCH_GW_LOCAL_QUEUE=N turns it on.
      ...(process.env.LABQ_BENCH_GW_LOCAL_QUEUE ? { localQueue: { size: Number(process.env.LABQ_BENCH_GW_LOCAL_QUEUE) } } : {}),
    },
  },
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  runner.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await runner.promise;
