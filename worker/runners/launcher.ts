// Starts bare tasks from a small helper process rather than from the worker itself. A
// `spawn` from node forks the whole worker (about 90 MiB): its page tables are copied and
// torn down again for each task, and the worker's thread waits meanwhile, 1.8 ms of an idle
// worker's CPU and more under load (docs/performance.md). The helper, a perl script of a few
// MiB (perl-base is essential on Debian and its kin), forks in a tenth of that.
//
// The helper also counts each task's CPU: it reaps its children one at a time and reads its
// own `times` of waited-for children before and after each, which is that task's user and
// system time with everything the task waited for, to the clock tick. So the task's own
// interpreter leads its session, with no wrapper shell above it, and a task killed with
// SIGKILL is counted too. It wakes when a task ends through the task's pidfd (Linux 5.3 and
// later; on an older kernel it looks every 20 ms while tasks run), and sleeps otherwise.
//
// Output goes through named pipes the worker reads: perl cannot hand a pipe's end to node.
// The worker opens the reading end of a pair before asking for the start, so nothing a fast
// task writes is lost; a reader that opened before any writer does not see the end of the
// file until a writer came and went (Linux's FIFO semantics), and the helper opens the
// writing ends before it forks. Pairs are reused once both ends saw their end of file; a pair
// whose writer outlived the drain (a process that left the task's session) is thrown away.
//
// Protocol, one line each way per message, every field hex: `fifo ID PATH…` makes pipes;
// `start ID CWD PROGRAM NAME SCRIPT OUT ERR VAR=VALUE…` starts a task; the helper answers
// `ok ID [PID]` or `failed ID MESSAGE`, and `exit PID WAIT_STATUS CPU_SECONDS` when a task
// ends. The helper ends when the worker closes its input; tasks still running go on as
// orphans, as they would after the worker itself died (orphans.ts finds them).

import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { groupExists } from '../orphans.js';

const SCRIPT = String.raw`
use strict; use POSIX (); use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK O_WRONLY);
$| = 1;
$SIG{CHLD} = sub {};
my ($cu, $cs) = (times)[2, 3];
my $live = 0;
my %watched;
my $hex = sub { unpack 'H*', $_[0] };
sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $status = $?;
    my ($u, $s) = (times)[2, 3];
    printf "exit %d %d %.3f\n", $pid, $status, ($u - $cu) + ($s - $cs);
    ($cu, $cs) = ($u, $s);
    $live--;
    POSIX::close(delete $watched{$pid}) if exists $watched{$pid};
  }
}
sub start {
  my ($id, $cwd, $path, $name, $script, $out, $err, @env) = @_;
  my @ends;
  for my $fifo ($out, $err) {
    sysopen(my $end, $fifo, O_WRONLY | O_NONBLOCK) or return print "failed $id ", $hex->("cannot open $fifo: $!"), "\n";
    fcntl($end, F_SETFL, fcntl($end, F_GETFL, 0) & ~O_NONBLOCK);
    push @ends, $end;
  }
  my $parent = $$;
  # Closed by the child's exec (perl opens it close-on-exec): the answer waits for it, so
  # that the task leads its session when the worker hears of it, and a signal sent to its
  # group at once (a suspension asked before the start, a kill) reaches it.
  pipe(my $execed, my $execing) or return print "failed $id ", $hex->("cannot make a pipe: $!"), "\n";
  # The task's folder and environment are set here rather than in the child: each page of
  # perl's memory the child writes before its exec is copied first, and setting these caused
  # about 19 of the ~42 page faults a child took beyond a bare fork and exec (the task's CPU
  # fell by a tenth, docs/performance.md). Undone once the child has exec'd, or the fork failed:
  # the helper sits in no task's folder, and holds no task's variables, between starts.
  chdir $cwd or return print "failed $id ", $hex->("cannot enter $cwd: $!"), "\n";
  %ENV = map { split /=/, $_, 2 } @env;
  my $pid = fork;
  unless (defined $pid) {
    my $why = "cannot fork: $!";
    %ENV = (); chdir '/';
    return print "failed $id ", $hex->($why), "\n";
  }
  if ($pid == 0) {
    close $execed;
    # A helper that died since the fork never told the worker of this task: it must not run.
    POSIX::_exit(127) if getppid() != $parent;
    POSIX::setsid();
    open STDIN, '<', '/dev/null';
    POSIX::dup2(fileno $ends[0], 1);
    POSIX::dup2(fileno $ends[1], 2);
    exec { $path } $name, $script;
    my $status = $!{EACCES} ? 126 : 127;
    print STDERR "cannot start $name: $!\n";
    POSIX::_exit($status);
  }
  close $execing;
  1 while !defined sysread($execed, my $byte, 1) && $!{EINTR};
  close $execed;
  %ENV = (); chdir '/';
  $live++;
  # Its pidfd (pidfd_open, 434 on every architecture; Linux 5.3 and later) wakes the select
  # when it ends, even in the moment between a reap and the select, where a SIGCHLD wakes
  # nothing (perl runs its handlers between operations).
  # Past select's 1,024 descriptors, the 20 ms look serves.
  my $fd = syscall(434, $pid, 0);
  if ($fd >= 1024) { POSIX::close($fd) } elsif ($fd >= 0) { $watched{$pid} = $fd }
  print "ok $id $pid\n";
}
my @made;
# The worker closed its end: the pipes go, tasks still running keep the ones they hold.
sub leave { unlink @made; rmdir $1 if @made && $made[0] =~ m{^(.*)/[^/]*$}; exit 0 }
my $buf = '';
while (1) {
  reap();
  my $rin = ''; vec($rin, 0, 1) = 1; vec($rin, $_, 1) = 1 for values %watched;
  # A task without a pidfd (an older kernel) is looked for every 20 ms.
  next if select(my $rout = $rin, undef, undef, $live > scalar(keys %watched) ? 0.02 : undef) <= 0;
  next unless vec($rout, 0, 1);
  my $read = sysread STDIN, $buf, 65536, length $buf;
  if (!defined $read) { next if $!{EINTR} || $!{EAGAIN}; leave() }
  leave() if $read == 0;
  while ((my $i = index $buf, "\n") >= 0) {
    my ($verb, $id, @fields) = split / /, substr($buf, 0, $i + 1, '');
    chomp(@fields); chomp($id);
    @fields = map { pack 'H*', $_ } @fields;
    if ($verb eq 'fifo') {
      my @failed = grep { !POSIX::mkfifo($_, 0600) } @fields;
      push @made, @fields;
      print @failed ? "failed $id " . $hex->("cannot make $failed[0]: $!") . "\n" : "ok $id\n";
    } elsif ($verb eq 'start') {
      start($id, @fields);
    }
  }
}
`;

/** The helper died while asked something: a start it was asked for may have forked the task. */
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

  /** `perl`'s path (where there is none, the shell runner forks from the worker instead). */
  constructor(private readonly perl: string) {}

  /**
   * Starts a task. Rejects with LauncherEnded when the helper died while asked: the task may
   * then have been forked (the caller makes sure it does not run on); any other rejection
   * means nothing was started.
   */
  async launch(spec: LaunchSpec): Promise<Launched> {
    const pair = this.free.pop() ?? (await this.makePair());
    // Opened before the start, without waiting for a writer (O_NONBLOCK): see the header.
    const streams: Socket[] = [];
    let pid: number;
    try {
      for (const path of [pair.out, pair.err]) streams.push(new Socket({ fd: openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), readable: true, writable: false }));
      const env = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
      [pid] = (await this.ask('start', [spec.cwd, spec.program, spec.name, spec.script, pair.out, pair.err, ...env])).map(Number) as [number];
    } catch (error) {
      for (const stream of streams) stream.destroy();
      // A task forked before the helper died may hold the pair: it is never reused.
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
      pid, stdout, stderr, exited,
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
    // Its own environment holds nothing of the worker's (its token, its transfer credentials):
    // a task's is set whole before its exec.
    const child = spawn(this.perl, ['-e', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'], detached: true, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
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
