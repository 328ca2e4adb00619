// How `labq fetch cp` and `sync` show their progress: on a terminal, one bar on stderr
// (cli-progress) with the bytes done of the total, the rate and the time left; otherwise (a
// pipe, a log file, CI) one plain line per file copied or removed, which stays readable.
import { Presets, SingleBar } from 'cli-progress';
import type { TransferProgress } from '../worker/progress.js';

export interface FetchProgress extends TransferProgress {
  copied(from: string, to: string, bytes: number): void;
  removed(what: string): void;
  /** Ends the bar; the lines that follow print below it. */
  stop(): void;
}

/** Sizes as people read them: binary units, one decimal from KiB on. */
export function bytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (n < 1024) return `${n} B`;
  let value = n / 1024;
  let unit = 0;
  for (; value >= 1024 && unit < units.length - 1; unit++) value /= 1024;
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function progressOnStderr(): FetchProgress {
  return process.stderr.isTTY ? new Bar() : new Lines();
}

class Lines implements FetchProgress {
  expect(): void {}
  add(): void {}
  copied(from: string, to: string, size: number): void {
    process.stderr.write(`copied ${from} -> ${to} (${bytes(size)})\n`);
  }
  removed(what: string): void {
    process.stderr.write(`deleted ${what}\n`);
  }
  stop(): void {}
}

class Bar implements FetchProgress {
  private readonly bar = new SingleBar({
    stream: process.stderr,
    format: '{bar} {percentage}% | {done} / {all} | {rate} | ETA {eta_formatted}',
    barsize: 30,
    // The ETA from the last minute of samples at 10 updates a second: steadier than the default's 10.
    etaBuffer: 600,
  }, Presets.shades_classic);
  private total = 0;
  private value = 0;
  private started = 0;

  expect(more: number): void {
    this.total += more;
    if (this.started) this.bar.setTotal(this.total);
    else {
      this.started = Date.now();
      this.bar.start(this.total, 0, this.payload());
    }
  }

  add(more: number): void {
    this.value += more;
    this.bar.update(this.value, this.payload());
  }

  copied(): void {}
  removed(): void {}

  stop(): void {
    if (this.started) this.bar.stop();
  }

  private payload() {
    const seconds = (Date.now() - this.started) / 1000;
    return {
      done: bytes(this.value),
      all: bytes(this.total),
      rate: seconds > 0 ? `${bytes(Math.round(this.value / seconds))}/s` : '-',
    };
  }
}
