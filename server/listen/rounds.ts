// Work done in rounds, one at a time, for readers that many wake-ups ask to read again (the
// fan-out of SSE and output followers, the workers feed): a request made while a round
// runs asks for one more round after it, however many requests came, and a request is
// served at the next turn of the event loop, so that those made together share a round.
export class Rounds {
  private running = false;
  private again = false;

  /** `round` handles its own failures; `stopped`: no further round once it says so. */
  constructor(private readonly round: () => Promise<void>, private readonly stopped: () => boolean) {}

  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      await this.round();
    } while (this.again && !this.stopped());
    this.running = false;
  }
}
