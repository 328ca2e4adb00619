// What a server process has started, to be released in reverse order: the listener
// before the reaper, the reaper before the LISTEN connection, everything before the pool
// the others use. One list serves both a start that fails half way (release what was
// started, nothing more) and a normal close, so the two cannot drift apart.
export class Teardown {
  private readonly steps: Array<() => Promise<void>> = [];

  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  /** Runs every step, last added first; one failing does not keep the others from running. */
  async run(): Promise<void> {
    const failures: unknown[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      await step().catch((error: unknown) => failures.push(error));
    }
    if (failures.length) throw new AggregateError(failures, `releasing the server failed: ${failures.map((e) => (e as Error).message).join('; ')}`);
  }
}
