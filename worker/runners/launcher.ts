// Starts bare tasks from a small helper process rather than from the worker itself. A
// `spawn` from node forks the whole worker (about 90 MiB): its page tables are copied and
// torn down again for each task, and the worker's thread waits meanwhile, 1.8 ms of an idle
// worker's CPU and more under load (docs/performance.md). The helper, a Python script, starts
// each task with posix_spawn, which glibc makes a vfork: the child borrows the helper's memory
// until its exec, so no page is copied, by the helper or by the task (a forking perl helper
// before it cost about eight times the helper's CPU and half as much again in the task).
//
// The helper also counts each task's CPU: it reaps its children one at a time and reads its
// own `times` of waited-for children before and after each, which is that task's user and
// system time with everything the task waited for, to the clock tick. So the task's own
// interpreter leads its session, with no wrapper shell above it, and a task killed with
// SIGKILL is counted too. It wakes when a task ends through the task's pidfd (Python 3.9 and
// Linux 5.3 or later; otherwise it looks every 20 ms while tasks run), and sleeps otherwise.
//
// Output goes through named pipes the worker reads: the helper cannot hand a pipe's end to node.
// The worker opens the reading end of a pair before asking for the start, so nothing a fast
// task writes is lost; a reader that opened before any writer does not see the end of the
// file until a writer came and went (Linux's FIFO semantics), and the helper opens the
// writing ends before the spawn. Pairs are reused once both ends saw their end of file; a pair
// whose writer outlived the drain (a process that left the task's session) is thrown away.
//
// Protocol, one line each way per message, every field hex: `fifo ID PATH…` makes pipes;
// `start ID CWD PROGRAM NAME SCRIPT OUT ERR VAR=VALUE…` starts a task; the helper answers
// `ok ID [PID]` or `failed ID MESSAGE`, and `exit PID WAIT_STATUS CPU_SECONDS` when a task
// ends. The helper ends when the worker closes its input; tasks still running go on as
// orphans, as they would after the worker itself died (orphans.ts finds them).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { groupExists } from '../orphans.js';

const SCRIPT = String.raw`
import os, select, signal, sys
made = []
watched = {}
live = 0
poller = select.poll()
poller.register(0, select.POLLIN)
t = os.times()
counted = t.children_user + t.children_system
# Python ignores these two; a task gets them at their default, as from a shell.
DEFAULTS = (signal.SIGPIPE, signal.SIGXFSZ)
def say(line):
    os.write(1, (line + '\n').encode())
def hexed(text):
    return text.encode('utf-8', 'surrogateescape').hex()
def reap():
    global live, counted
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        t = os.times()
        now = t.children_user + t.children_system
        say('exit %d %d %.3f' % (pid, status, now - counted))
        counted = now
        live -= 1
        fd = watched.pop(pid, None)
        if fd is not None:
            poller.unregister(fd)
            os.close(fd)
def start(id, cwd, path, name, script, out, err, *env):
    global live
    ends = []
    try:
        for fifo in (out, err):
            try:
                ends.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as e:
                return say('failed %s %s' % (id, hexed('cannot open %s: %s' % (fifo, e.strerror))))
            os.set_blocking(ends[-1], True)
        # The task's folder is the helper's for the moment of the spawn (posix_spawn has no
        # way to set it), and the helper leaves it at once: it holds no task's folder.
        try:
            os.chdir(cwd)
        except OSError as e:
            return say('failed %s %s' % (id, hexed('cannot enter %s: %s' % (cwd, e.strerror))))
        try:
            # It returns once the task's interpreter has exec'd, as its session's leader: a
            # signal the worker sends its group as soon as it hears of it (a suspension asked
            # before the start, a kill) reaches it.
            pid = os.posix_spawn(path, [name, script], dict(v.split('=', 1) for v in env), setsid=True, setsigdef=DEFAULTS, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, ends[0], 1), (os.POSIX_SPAWN_DUP2, ends[1], 2)])
        except Exception as e:
            return say('failed %s %s' % (id, hexed('cannot start %s: %s' % (name, getattr(e, 'strerror', None) or e))))
        finally:
            os.chdir('/')
        live += 1
        try:
            fd = os.pidfd_open(pid)
            watched[pid] = fd
            poller.register(fd, select.POLLIN)
        except (AttributeError, OSError):
            pass
        say('ok %s %d' % (id, pid))
    finally:
        for fd in ends:
            os.close(fd)
def leave():
    for path in made:
        try:
            os.unlink(path)
        except OSError:
            pass
    if made:
        try:
            os.rmdir(os.path.dirname(made[0]))
        except OSError:
            pass
    sys.exit(0)
buf = b''
while True:
    reap()
    # A task without a pidfd is looked for every 20 ms.
    ready = poller.poll(20 if live > len(watched) else None)
    if not any(fd == 0 for fd, _ in ready):
        continue
    chunk = os.read(0, 65536)
    if not chunk:
        leave()
    buf += chunk
    *lines, buf = buf.split(b'\n')
    for line in lines:
        if not line:
            continue
        verb, _, rest = line.decode('ascii', 'replace').partition(' ')
        id, *fields = rest.split(' ')
        # A request it cannot read is answered as failed: the helper goes on for the tasks it runs.
        try:
            fields = [bytes.fromhex(f).decode('utf-8', 'surrogateescape') for f in fields]
            if verb == 'fifo':
                failed = None
                for path in fields:
                    try:
                        os.mkfifo(path, 0o600)
                    except OSError as e:
                        failed = failed or 'cannot make %s: %s' % (path, e.strerror)
                made.extend(fields)
                say('failed %s %s' % (id, hexed(failed)) if failed else 'ok %s' % id)
            elif verb == 'start':
                start(id, *fields)
            else:
                raise ValueError('unknown request %r' % verb)
        except Exception as e:
            say('failed %s %s' % (id, hexed('cannot read the request: %r' % e)))
`;

/** The environment the helper runs in: nothing of the worker's (its token, its transfer credentials); a task's is given whole at its spawn. */
const helperEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' });

// It starts a process as the helper does (a Python built without posix_spawn's setsid fails
// here), and says so with its version, or says what failed.
const PROBE = `import os, signal, sys
v = sys.version.split()[0]
try:
    pid = os.posix_spawn(sys.executable, [sys.executable, '-I', '-S', '-c', ''], {}, setsid=True, setsigdef=(signal.SIGPIPE,))
    ok = os.waitpid(pid, 0)[1] == 0
    print('ok %s' % v if ok else 'Python %s, whose process it started failed' % v)
except Exception as e:
    print('Python %s cannot start a task: %r' % (v, e))`;
const unfit = new Map<string, Promise<string | null>>();

/** Why this `python3` cannot be the helper (it needs posix_spawn with a session of its own, 3.8 or later), or null when it can: asked once per path and process. */
export function pythonUnfit(python: string): Promise<string | null> {
  if (!unfit.has(python)) {
    unfit.set(python, new Promise((resolve) => {
      execFile(python, ['-I', '-S', '-c', PROBE], { env: helperEnv(), timeout: 30_000 }, (error, stdout) => {
        const said = stdout.trim();
        if (error && !said) resolve(`${python} does not run: ${error.message.split('\n')[0]}`);
        else resolve(/^ok \S+$/.test(said) ? null : `${python}: ${said}`);
      });
    }));
  }
  return unfit.get(python)!;
}

/** The helper died while asked something: a start it was asked for may have spawned the task. */
export class LauncherEnded extends Error {
  constructor() {
    super('labq\'s task launcher ended');
  }
}

/** Named pipes cannot be made in the temporary directory (none, or a file system without them): nothing was started. */
export class NoPipes extends Error {
  constructor(cause: Error) {
    super(`labq's task launcher cannot make its pipes in ${tmpdir()}: ${cause.message}`);
  }
}

/** How a task started by the helper ended: its code as a shell tells it (128 + N for signal N), and its CPU time. */
export interface LaunchedExit {
  code: number | null;
  cpuSeconds: number | null;
  /** Set when the helper itself ended while the task ran: its end is then unknown. */
  error?: string;
}

export interface Launched {
  pid: number;
  stdout: Socket;
  stderr: Socket;
  exited: Promise<LaunchedExit>;
  /** Both streams have closed: watched from their opening, so an end that came with the start's answer is not missed. */
  closed: Promise<void>;
  /** Gives the pipes back once both streams ended (reused), or after the drain gave up (thrown away). */
  release(drained: boolean): void;
}

export interface LaunchSpec {
  cwd: string;
  /** The interpreter's path, and the name it is started under (its argv[0]). */
  program: string;
  name: string;
  script: string;
  env: Record<string, string>;
}

interface Pair { dir: string; out: string; err: string }

const GROUP_POLL_MS = 100;
const hex = (text: string) => Buffer.from(text).toString('hex');
const fromHex = (text: string) => Buffer.from(text, 'hex').toString();

export class Launcher {
  private child: ChildProcess | null = null;
  private dir: string | null = null;
  private serial = 0;
  private pairs = 0;
  private readonly free: Pair[] = [];
  private readonly answers = new Map<string, { resolve(fields: string[]): void; reject(error: Error): void }>();
  private readonly exits = new Map<number, (exit: LaunchedExit) => void>();
  /** Ends read before the start's answer was taken up (see launch). */
  private readonly ended = new Map<number, LaunchedExit>();

  /** The path of a `python3` that can serve (`pythonUnfit`); without one, the shell runner forks from the worker instead. */
  constructor(private readonly python: string) {}

  /**
   * Starts a task. Rejects with LauncherEnded when the helper died while asked: the task may
   * then have been spawned (the caller makes sure it does not run on); any other rejection
   * means nothing was started.
   */
  async launch(spec: LaunchSpec): Promise<Launched> {
    const pair = this.free.pop() ?? (await this.makePair());
    // Opened before the start, without waiting for a writer (O_NONBLOCK): see the header.
    const streams: Socket[] = [];
    const closes: Array<Promise<void>> = [];
    let pid: number;
    try {
      for (const path of [pair.out, pair.err]) {
        const stream = new Socket({ fd: openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), readable: true, writable: false });
        streams.push(stream);
        closes.push(new Promise((resolve) => stream.once('close', () => resolve())));
      }
      const env = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
      [pid] = (await this.ask('start', [spec.cwd, spec.program, spec.name, spec.script, pair.out, pair.err, ...env])).map(Number) as [number];
    } catch (error) {
      for (const stream of streams) stream.destroy();
      // A task spawned before the helper died may hold the pair: it is never reused.
      for (const path of [pair.out, pair.err]) rmSync(path, { force: true });
      // The folder of the pipes went (a cleaner of the temporary directory): a new one for the next.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') this.forgetPipes();
      throw error;
    }
    const [stdout, stderr] = streams as [Socket, Socket];
    // Its end may have come in the same read as its start, before this line ran.
    const early = this.ended.get(pid);
    this.ended.delete(pid);
    const exited = early ? Promise.resolve(early) : new Promise<LaunchedExit>((resolve) => this.exits.set(pid, resolve));
    this.holdOpen();
    return {
      pid, stdout, stderr, exited, closed: Promise.all(closes).then(() => undefined),
      // A pair of a folder given up since (its helper died) is not reused: the folder went.
      release: (drained) => {
        if (drained && pair.dir === this.dir) this.free.push(pair);
        else for (const path of [pair.out, pair.err]) rmSync(path, { force: true });
      },
    };
  }

  private async makePair(): Promise<Pair> {
    try {
      // Absolute: the helper's own folder is not the worker's once it has started a task.
      this.dir ??= mkdtempSync(resolve(tmpdir(), 'labq-launch-'));
      const n = ++this.pairs;
      const pair = { dir: this.dir, out: join(this.dir, `${n}.out`), err: join(this.dir, `${n}.err`) };
      await this.ask('fifo', [pair.out, pair.err]);
      return pair;
    } catch (error) {
      this.forgetPipes();
      throw error instanceof LauncherEnded ? error : new NoPipes(error as Error);
    }
  }

  /**
   * The pipes and their folder are dropped: the next pair is made in a new folder. Tasks
   * still running keep the pipes they hold open.
   */
  private forgetPipes(): void {
    this.free.length = 0;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private ask(verb: string, fields: string[]): Promise<string[]> {
    const child = this.helper();
    const id = String(++this.serial);
    return new Promise((resolve, reject) => {
      this.answers.set(id, { resolve, reject });
      this.holdOpen();
      // The starts of one tick (an exchange's assignments) go in one write.
      if (child.stdin!.writableCorked === 0) {
        child.stdin!.cork();
        process.nextTick(() => child.stdin!.uncork());
      }
      child.stdin!.write(`${verb} ${id} ${fields.map(hex).join(' ')}\n`);
    });
  }

  /** The helper's answers keep the worker's process alive only while some are awaited: an idle helper holds nothing. */
  private holdOpen(): void {
    const stdout = this.child?.stdout as Socket | undefined;
    if (this.answers.size + this.exits.size > 0) stdout?.ref();
    else stdout?.unref();
  }

  private helper(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.python, ['-I', '-S', '-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'], detached: true, env: helperEnv() });
    this.child = child;
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    // 'close', not 'exit': the lines it wrote before it ended are read first.
    child.once('close', () => this.onEnd(child));
    child.once('error', () => this.onEnd(child));
    child.unref();
    (child.stdout as Socket).unref();
    return child;
  }

  private onLine(line: string): void {
    const [verb, id, ...fields] = line.split(' ');
    if (verb === 'exit') {
      const pid = Number(id);
      const status = Number(fields[0]);
      const signal = status & 0x7f;
      const exit = { code: signal ? 128 + signal : status >> 8, cpuSeconds: Number(fields[1]) };
      const waiting = this.exits.get(pid);
      if (waiting) waiting(exit);
      else this.ended.set(pid, exit);
      this.exits.delete(pid);
    } else {
      const answer = this.answers.get(id!);
      this.answers.delete(id!);
      if (verb === 'ok') answer?.resolve(fields);
      else answer?.reject(new Error(fromHex(fields[0] ?? '')));
    }
    this.holdOpen();
  }

  /**
   * The helper ended (killed, say): what it was asked fails. The tasks it ran go on, orphans
   * now, and their output still flows; each ends, with its status unknown, once its group is gone.
   */
  private onEnd(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = null;
    for (const { reject } of this.answers.values()) reject(new LauncherEnded());
    this.answers.clear();
    const orphans = [...this.exits];
    this.exits.clear();
    this.forgetPipes();
    const timer = setInterval(() => {
      for (const [i, [pid, exit]] of [...orphans.entries()].reverse()) {
        if (groupExists(pid)) continue;
        exit({ code: null, cpuSeconds: null, error: 'labq\'s task launcher ended while the task ran: its exit status is unknown' });
        orphans.splice(i, 1);
      }
      if (orphans.length === 0) clearInterval(timer);
    }, GROUP_POLL_MS);
  }
}
