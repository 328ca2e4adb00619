// `labq worker` (the daemon) and `labq workers …` (list, show, change settings).
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { defaultDataDir } from '../server/config.js';
import { DEFAULT_TRANSFERS, WorkerDaemon } from '../worker/daemon.js';
import { DEFAULT_CHECK_SECONDS } from '../worker/resourceCache.js';
import { clientFrom, type ClientFlags } from './context.js';
import { fromFlags } from './fieldFlags.js';
import type { PatchWorkerBody } from '../shared/schemas/worker.js';
import { onStopSignal } from './signals.js';
import { count, int, list, positive, print, size, table } from './format.js';


export function workerCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  program
    .command('worker')
    .description('run a worker daemon that pulls tasks from a labq server and runs them')
    .addOption(new Option('--name <name>', 'worker name, its identity across restarts (default: hostname)'))
    .addOption(new Option('-c, --concurrency <n>', 'tasks running at once').argParser(count).default(cpus().length))
    .addOption(new Option('--prefetch <n>', 'tasks downloading ahead').argParser(count).default(0))
    .addOption(new Option('--tags <tags>', 'routing tags in order; * takes any tag').argParser(list).default(['default']))
    .addOption(new Option('--capabilities <list>', 'extra capabilities tasks may require').argParser(list).default([]))
    .addOption(new Option('--gpus <n>', 'GPUs tasks may use').argParser(count).default(0))
    .addOption(new Option('--transfers <n>', 'files downloading or uploading at once, for all tasks (1 or more)').argParser(positive).default(DEFAULT_TRANSFERS))
    .addOption(new Option('--docker <mode>', 'use Docker: auto, on, off').choices(['auto', 'on', 'off']).default('auto'))
    .addOption(new Option('--state-dir <dir>', 'where the worker keeps spooled reports, caches and work folders'))
    .addOption(new Option('--cache-size <size>', 'bound on the resource cache, e.g. 50G or 500M; least recently used unused entries go past it (default: no bound)').argParser(size))
    .addOption(new Option('--cache-check <seconds>', 'how long a look at a cached resource\'s remote holds before the next one').argParser(count).default(DEFAULT_CHECK_SECONDS))
    .addOption(new Option('--exit-when-empty', 'exit once nothing is left for this worker'))
    .addHelpText('after', `
The server and the token are the global options, before or after \`worker\`:
  --server <url>     the server to pull from (LABQ_SERVER)
  --token <token>    its API token (LABQ_TOKEN); give each worker its own:
                     \`labq admin token create NAME --role worker\`
On the machine that runs \`labq up\`, both default to what it left in the data
directory.`)
    .action(async (o) => {
      const f = flags();
      const client = clientFrom(f);
      const name = o.name ?? hostname();
      const daemon = new WorkerDaemon({
        server: client.server, token: client.token ?? '', name, concurrency: o.concurrency, prefetch: o.prefetch, tags: o.tags,
        capabilities: o.capabilities, gpus: o.gpus, transfers: o.transfers, docker: o.docker, exitWhenEmpty: !!o.exitWhenEmpty,
        cacheSize: o.cacheSize, cacheCheckSeconds: o.cacheCheck,
        stateDir: o.stateDir ?? join(f.dataDir ?? defaultDataDir(), `worker-${name}`),
      });
      onStopSignal(() => daemon.stop());
      await daemon.start();
      // A loop that failed (its token revoked, its name taken over) still stops the daemon, then exits with the reason.
      try {
        await daemon.finished();
      } finally {
        await daemon.stop();
      }
      process.exit(0);
    });

  const workers = program.command('workers').description('list workers, change their settings live, drain and delete them');
  workers.command('list').description('workers known to the server, with their settings and host figures').action(async () => {
    const page = await clientFrom(flags()).listWorkers({ limit: 1000 });
    print(page, !!flags().json, () =>
      table(page.items.map((w) => ({
        ...w, tags: w.tags.join(','), running: w.live_executions,
        cpu: w.metrics ? `${w.metrics.cpu_percent}%` : '', memory: w.metrics ? `${w.metrics.memory_used_mb}/${w.metrics.memory_total_mb}M` : '',
      })), ['id', 'name', 'status', 'concurrency', 'prefetch', 'paused', 'draining', 'tags', 'running', 'cpu', 'memory', 'last_seen_at']),
    );
  });
  workers.command('show').description('one worker, as JSON').argument('<id>', 'worker id', int).action(async (id: number) => {
    print(await clientFrom(flags()).getWorker(id), true, () => '');
  });
  /** The flag that sets each setting of `workers set`, which a refusal names. */
  const SETTING_FLAGS = { concurrency: '--concurrency', prefetch: '--prefetch', tags: '--tags', paused: '--pause/--resume', draining: '--drain/--no-drain' };
  workers
    .command('set')
    .description('change settings; applied at the worker’s next poll, without a restart')
    .argument('<id>', 'worker id', int)
    .option('-c, --concurrency <n>', '', count)
    .option('--prefetch <n>', '', count)
    .option('--tags <tags>', '', list)
    .option('--pause', 'take no new tasks')
    .option('--resume', 'take tasks again')
    .option('--drain', 'take no new tasks; the daemon leaves once what it runs has ended')
    .option('--no-drain', 'stop draining: take tasks again')
    .action(async (id: number, o) => {
      const body = {
        ...(o.concurrency !== undefined && { concurrency: o.concurrency }),
        ...(o.prefetch !== undefined && { prefetch: o.prefetch }),
        ...(o.tags && { tags: o.tags }),
        ...(o.pause && { paused: true }),
        ...(o.resume && { paused: false }),
        ...(o.drain !== undefined && { draining: o.drain as boolean }),
      };
      await setWorker(id, body);
    });
  for (const [name, paused] of [['pause', true], ['resume', false]] as const) {
    workers
      .command(name)
      .description(paused ? 'the worker takes no new task (what it runs goes on)' : 'the worker takes tasks again')
      .argument('<id>', 'worker id', int)
      .action((id: number) => setWorker(id, { paused }));
  }

  workers
    .command('rm')
    .description('delete a worker that is not online (drain it or stop its daemon first); its executions keep their history')
    .argument('<id>', 'worker id', int)
    .action(async (id: number) => {
      const answer = await clientFrom(flags()).deleteWorker(id);
      print(answer, !!flags().json, () => `worker ${id} deleted`);
    });

  workers
    .command('why')
    .description('why a worker takes no task now')
    .argument('<id>', 'worker id', int)
    .action(async (id: number) => {
      const why = await clientFrom(flags()).call('whyWorker', { params: { id } });
      print(why, !!flags().json, () => [`worker ${id}`, ...why.reasons.map((r) => `  ${r.code}: ${r.message}`)].join('\n'));
    });

  async function setWorker(id: number, body: PatchWorkerBody) {
    const worker = await fromFlags(SETTING_FLAGS, clientFrom(flags()).updateWorker(id, body));
    print(worker, !!flags().json, () => `worker ${worker.id}: concurrency ${worker.concurrency}, prefetch ${worker.prefetch}, tags ${worker.tags.join(',')}${worker.paused ? ', paused' : ''}${worker.draining ? ', draining' : ''}`);
  }
}
