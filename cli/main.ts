#!/usr/bin/env node
// The `labq` command.
import './heap.js';
import { Command, Option } from 'commander';
import { LabqApiError, LabqUnreachableError } from '../shared/client.js';
import { VERSION } from '../shared/version.js';
import { DEFAULT_HOST, DEFAULT_PORT, defaultDataDir } from '../server/config.js';
import { unauthorizedHint } from './context.js';
import { fieldName } from './fieldFlags.js';
import { CommandError, port } from './format.js';
import { fetchCommands } from './fetch.js';
import { accountCommands } from './accounts.js';
import { adminCommands } from './admin.js';
import { onStopSignal } from './signals.js';
import { scheduleCommands } from './schedules.js';
import { secretCommands } from './secrets.js';
import { steeringCommands } from './steering.js';
import { sweepCommands } from './sweeps.js';
import { taskCommands } from './tasks.js';
import { workerCommands } from './worker.js';
import { workflowCommands } from './workflows.js';

const program = new Command('labq')
  .description('labq: a distributed task queue for scientific work')
  .version(VERSION, '-V, --version', "print labq's version")
  .option('--server <url>', 'server URL (LABQ_SERVER)')
  .option('--token <token>', 'API token (LABQ_TOKEN)')
  .option('--data-dir <dir>', 'data directory (LABQ_DATA_DIR)')
  .option('--json', 'print JSON');

const flags = () => program.opts();
const log = (line: string) => process.stderr.write(`labq: ${line}\n`);

function serverCommand(name: 'up' | 'server', description: string, worker: boolean) {
  return program
    .command(name)
    .description(description)
    .addOption(new Option('--host <host>', 'address to listen on').env('LABQ_HOST').default(DEFAULT_HOST))
    .addOption(new Option('--port <port>', 'port to listen on').env('LABQ_PORT').default(DEFAULT_PORT).argParser(port))
    .addOption(new Option('--database-url <url>', 'external PostgreSQL; absent: embedded').env('DATABASE_URL'))
    .addOption(new Option('--admin-token <token>', 'the first admin token').env('LABQ_ADMIN_TOKEN'))
    .addOption(new Option('--trust-proxy', 'trust X-Forwarded-For/-Proto: only behind a reverse proxy that sets them').env('LABQ_TRUST_PROXY'))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, with its chain)').env('LABQ_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the private key of --tls-cert (PEM)').env('LABQ_TLS_KEY'))
    .action(async (o) => {
      // The server (and its database driver) loads only for the commands that run it.
      const { serve, tlsFiles } = await import('./serve.js');
      const dataDir = flags().dataDir ?? defaultDataDir();
      const served = await serve(
        {
          command: `labq ${name}` as const, dataDir, host: o.host, port: o.port, databaseUrl: o.databaseUrl, adminToken: o.adminToken, worker: worker && o.worker !== false,
          trustProxy: !!o.trustProxy, tls: tlsFiles(o.tlsCert, o.tlsKey),
        },
        log,
      );
      process.stdout.write(`labq is running at ${served.server.url}\n`);
      process.stdout.write(`UI: ${served.server.url}/ (log in with the admin token, or as a user made with \`labq user add\`)\n`);
      process.stdout.write(
        served.adminToken
          ? `admin token: ${served.adminToken}\n`
          : 'admin token: not stored in this data directory (given earlier with LABQ_ADMIN_TOKEN, or made by another server)\n',
      );
      if (served.worker) process.stdout.write(`local worker: ${served.worker.name} (worker ${served.worker.id})\n`);
      process.stdout.write(`data: ${dataDir}\nstop with Ctrl-C\n`);
      onStopSignal(async () => {
        log('stopping');
        await served.stop();
      });
    });
}

serverCommand('up', 'run labq on this machine: server, a local worker, embedded PostgreSQL (or DATABASE_URL)', true)
  .option('--no-worker', 'do not start the local worker');
serverCommand('server', 'run a labq server (several may share one DATABASE_URL)', false);

const task = taskCommands(program, flags);
sweepCommands(program, flags);
scheduleCommands(program, flags);
workflowCommands(program, flags);
steeringCommands(program, task, flags);
workerCommands(program, flags);
accountCommands(program, flags);
secretCommands(program, flags);

adminCommands(program, flags);
fetchCommands(program, flags);

program.parseAsync(process.argv).catch((error) => {
  const fields = error instanceof LabqApiError ? error.problem.errors ?? [] : [];
  // The detail of a refusal that lists its fields is that list, by the API's names: the lines
  // below say it again by the flags typed.
  process.stderr.write(`labq: ${fields.length ? `${error.status} ${error.problem.title}` : (error as Error).message}\n`);
  if (error instanceof LabqApiError) {
    for (const e of fields) process.stderr.write(`  ${fieldName(error, e.field)}: ${e.message}\n`);
    if (error.status === 401) process.stderr.write(`  ${unauthorizedHint(flags())}\n`);
  }
  if (error instanceof LabqUnreachableError) {
    process.stderr.write('  is labq running? Start it on this machine with `labq up`, or give the server with --server URL or LABQ_SERVER\n');
  }
  process.exit(error instanceof CommandError ? error.status : 1);
});
