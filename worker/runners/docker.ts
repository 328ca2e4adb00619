// Docker runner: runs a task in a container through the engine API (dockerode). It owns the
// mapping from a task to a container — mounts /input /output /tmp and /resource (read-only),
// env, labels, the docker-run-like options a task may carry (read by shared/dockerPolicy.ts,
// the parse the server checks submissions with, and checked again here against the policy
// sent with the assignment) — and the container's whole life:
// pull, create, attach, start, stream, wait, measure, remove. Containers are labelled with
// their execution id so a restarted worker finds the ones still running and re-attaches
// instead of losing them. A task with a memory requirement runs under it as its limit, with
// no swap beyond it, unless its own options set --memory; one the kernel kills at its limit
// is reported as such (oomKilled), so that its retry can ask for more.

import { randomBytes } from 'node:crypto';
import { chmod, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import { DEFAULT_DOCKER_POLICY, containerOptionViolations, parseContainerOptions } from '../../shared/dockerPolicy.js';
import { killedAtLimit } from './dockerOom.js';
import {
  endOf, labqEnv, settlesWithin, writeScript,
  type ExecutionDirs, type OutputStream, type RunHandle, type Runner, type RunResult, type RunSpec,
} from './types.js';

export const EXECUTION_LABEL = 'labq.execution';

/** Where the execution dirs appear inside the container. */
const MOUNTS: ExecutionDirs = { input: '/input', output: '/output', temp: '/tmp', resource: '/resource' };

/** Memory and CPU time are sampled this often while a container runs (see trackUsage). */
const USAGE_SAMPLE_MS = 1000;

/** Credentials for one registry; handed to the engine only, never logged. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** Registry host, e.g. 'ghcr.io'; Docker Hub when absent. */
  serveraddress?: string;
}

export interface DockerRunnerOptions {
  docker?: Dockerode;
  /** Used when pulling an image from the matching registry. */
  credentials?: RegistryAuth[];
  /** Added to every container and required when listing them, e.g. to tell this worker's containers from another's. */
  labels?: Record<string, string>;
}

export interface LabqContainer {
  executionId: number;
  containerId: string;
  running: boolean;
  /** Paused (a suspended task): a daemon re-attaching to it must know, to let it go on. */
  paused: boolean;
}

export class DockerRunner implements Runner {
  private readonly docker: Dockerode;
  private readonly credentials: RegistryAuth[];
  private readonly labels: Record<string, string>;

  constructor(options: DockerRunnerOptions = {}) {
    this.docker = options.docker ?? new Dockerode();
    this.credentials = options.credentials ?? [];
    this.labels = options.labels ?? {};
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    if (!spec.container) throw new Error('the Docker runner needs a container image');
    // The policy the server sent (the defaults when none came): a task submitted before it was tightened is refused here.
    const refused = containerOptionViolations(spec.containerOptions, spec.dockerPolicy ?? DEFAULT_DOCKER_POLICY);
    if (refused.length) throw new Error(refused.map((v) => `container_options[${v.index}]: ${v.reason}`).join('; '));
    const opts = parseContainerOptions(spec.containerOptions);
    await this.ensureImage(spec.container);
    writeScript(spec.dirs.temp, spec.command);
    await openToContainerUser(spec.dirs);
    const env = { ...spec.env, ...opts.env, ...labqEnv(MOUNTS, spec.cpus) };
    const requiredBytes = spec.memoryMb && opts.memoryBytes === undefined ? spec.memoryMb * 1024 * 1024 : undefined;
    const container = await this.docker.createContainer({
      name: `labq-${spec.executionId}-${randomBytes(3).toString('hex')}`,
      Image: spec.container,
      Cmd: [spec.shell, `${MOUNTS.temp}/.labq-command`],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { ...this.labels, [EXECUTION_LABEL]: String(spec.executionId) },
      User: opts.user,
      WorkingDir: opts.workingDir ?? MOUNTS.temp,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        Binds: [
          `${spec.dirs.input}:${MOUNTS.input}`,
          `${spec.dirs.output}:${MOUNTS.output}`,
          `${spec.dirs.temp}:${MOUNTS.temp}`,
          `${spec.dirs.resource}:${MOUNTS.resource}:ro`,
          ...opts.binds,
        ],
        // An init as PID 1 forwards SIGTERM to the script (a shell as PID 1 ignores it) and reaps zombies.
        Init: true,
        NanoCpus: opts.nanoCpus,
        Memory: opts.memoryBytes ?? requiredBytes,
        // The requirement is what the task gets: swapping past it would only hide that it needs more.
        MemorySwap: requiredBytes,
        DeviceRequests: opts.deviceRequests,
        NetworkMode: opts.networkMode,
        Privileged: opts.privileged,
        CapAdd: opts.capAdd,
        CapDrop: opts.capDrop,
        Devices: opts.devices,
        PidMode: opts.pidMode,
        IpcMode: opts.ipcMode,
        UTSMode: opts.utsMode,
        UsernsMode: opts.usernsMode,
        // In the Engine API since 1.41, not yet in dockerode's types.
        ...(opts.cgroupnsMode ? ({ CgroupnsMode: opts.cgroupnsMode } as object) : {}),
        SecurityOpt: opts.securityOpt,
        // Output is read through attach; the log keeps a bounded tail for re-attaching after a restart.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '20m', 'max-file': '3' } },
      },
    });
    try {
      // Attached before start, as `docker run` does, so not a byte of early output is missed.
      const output = await container.attach({ stream: true, stdout: true, stderr: true });
      await container.start();
      return new DockerHandle(this.docker, container, output, spec.onOutput);
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw err;
    }
  }

  async listLabqContainers(): Promise<LabqContainer[]> {
    const label = [EXECUTION_LABEL, ...Object.entries(this.labels).map(([k, v]) => `${k}=${v}`)];
    const containers = await this.docker.listContainers({ all: true, filters: { label } });
    return containers.map((c) => ({
      executionId: Number(c.Labels[EXECUTION_LABEL]),
      containerId: c.Id,
      running: c.State === 'running',
      paused: c.State === 'paused',
    }));
  }

  /**
   * Follows the container of an execution started by a previous worker process (running or
   * already exited) and, like a fresh run, removes it once it has ended. Output is replayed
   * from `sinceUnixSeconds` (all of the retained log when absent), so chunks written in that
   * same instant may be delivered twice: the caller's sequence numbers absorb them.
   */
  async reattach(
    executionId: number,
    onOutput: (stream: OutputStream, chunk: Buffer) => void,
    sinceUnixSeconds?: number,
  ): Promise<RunHandle> {
    const found = (await this.listLabqContainers()).find((c) => c.executionId === executionId);
    if (!found) throw new Error(`no container labelled for execution ${executionId}`);
    const container = this.docker.getContainer(found.containerId);
    const output = await container.logs({
      follow: true, stdout: true, stderr: true, since: dockerTimestamp(sinceUnixSeconds ?? 0),
    });
    return new DockerHandle(this.docker, container, output, onOutput, found.paused);
  }

  private async ensureImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    const auth = this.credentials.find((c) => registryOf(c.serveraddress) === registryOf(imageRegistry(image)));
    try {
      const progress = await this.docker.pull(image, auth ? { authconfig: auth } : {});
      await new Promise<void>((resolve, reject) => {
        let failure: string | undefined;
        this.docker.modem.followProgress(
          progress,
          (err) => (err || failure ? reject(err ?? new Error(failure)) : resolve()),
          (event: { error?: string }) => { failure ??= event.error; },
        );
      });
    } catch (err) {
      throw new Error(`cannot pull ${image}: ${(err as Error).message}`);
    }
  }
}

class DockerHandle implements RunHandle {
  readonly ref: string;
  private readonly exited: Promise<unknown>;
  private readonly done: Promise<RunResult>;
  private hasExited = false;
  private lastSignal: NodeJS.Signals | null = null;
  /** The engine's pause and unpause, one at a time: each decides from the state the previous one left. */
  private pausing: Promise<void> = Promise.resolve();

  constructor(
    private readonly docker: Dockerode,
    private readonly container: Dockerode.Container,
    output: NodeJS.ReadableStream,
    onOutput: (stream: OutputStream, chunk: Buffer) => void,
    private paused = false,
  ) {
    this.ref = container.id;
    const drained = demux(docker, output, onOutput);
    const stopSampling = trackUsage(container);
    const status: Promise<{ StatusCode: number }> = container.wait();
    this.exited = status.finally(() => { this.hasExited = true; }).catch(() => undefined);
    this.done = this.finish(status, drained, stopSampling);
  }

  wait(): Promise<RunResult> {
    return this.done;
  }

  async kill(graceMs: number): Promise<void> {
    if (!this.hasExited) {
      // A frozen container would get the TERM only once thawed; older engines refuse to signal it at all.
      await this.resume();
      // No grace is KILL alone: a TERM first would let the task's trap run after all.
      if (graceMs <= 0) await this.signal('SIGKILL');
      else {
        await this.signal('SIGTERM');
        if (!(await settlesWithin(this.exited, graceMs))) await this.signal('SIGKILL');
      }
    }
    await this.done;
  }

  get suspended(): boolean {
    return this.paused;
  }

  /** Docker pause: the cgroup freezer stops every process of the container. */
  suspend(): Promise<void> {
    return this.setPaused(true);
  }

  resume(): Promise<void> {
    return this.setPaused(false);
  }

  private setPaused(paused: boolean): Promise<void> {
    const next = this.pausing.catch(() => undefined).then(async () => {
      if (this.paused === paused || this.hasExited) return;
      try {
        await (paused ? this.container.pause() : this.container.unpause());
      } catch (err) {
        // 404: already removed, 409: no longer running; either way there is nothing to freeze or thaw.
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw err;
      }
      this.paused = paused;
    });
    this.pausing = next;
    return next;
  }

  private async finish(
    status: Promise<{ StatusCode: number }>,
    drained: Promise<string | null>,
    stopSampling: () => Usage,
  ): Promise<RunResult> {
    const errors: string[] = [];
    let exitCode: number | null = null;
    let oomKilled = false;
    let limitBytes = 0;
    try {
      exitCode = (await status).StatusCode;
      const streamError = await drained;
      if (streamError) errors.push(`output stream: ${streamError}`);
      const info = await this.container.inspect();
      limitBytes = info.HostConfig.Memory ?? 0;
      oomKilled = await killedAtLimit(this.docker, info, exitCode, this.lastSignal !== null);
      if (oomKilled) errors.push(`killed by the kernel: out of memory (limit ${Math.round(limitBytes / 1024 ** 2)} MiB)`);
    } catch (err) {
      errors.push((err as Error).message);
    }
    const usage = stopSampling();
    // Killed at its limit, it reached it, even if it got there between two samples.
    const peakMemoryBytes = oomKilled && limitBytes > 0 ? Math.max(usage.peakMemoryBytes ?? 0, limitBytes) : usage.peakMemoryBytes;
    await this.container.remove({ force: true, v: true }).catch((err: { statusCode?: number; message: string }) => {
      if (err.statusCode !== 404) errors.push(`cannot remove container: ${err.message}`);
    });
    // The init reports death by signal N as 128+N, as a shell does.
    return { ...endOf(exitCode, this.lastSignal), peakMemoryBytes, cpuSeconds: usage.cpuSeconds, oomKilled, error: errors.length > 0 ? errors.join('; ') : null };
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    this.lastSignal = signal;
    await this.container.kill({ signal }).catch((err: { statusCode?: number }) => {
      // 404: already removed, 409: no longer running; either way it is on its way out.
      if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
    });
  }
}

/** Splits Docker's multiplexed stream; resolves at its end with the stream's error, if any. */
function demux(
  docker: Dockerode,
  stream: NodeJS.ReadableStream,
  onOutput: (stream: OutputStream, chunk: Buffer) => void,
): Promise<string | null> {
  const sink = (name: OutputStream) => new Writable({
    write(chunk: Buffer, _encoding, callback) { onOutput(name, chunk); callback(); },
  });
  return new Promise((resolve) => {
    docker.modem.demuxStream(stream, sink('stdout'), sink('stderr'));
    stream.once('end', () => resolve(null));
    stream.once('close', () => resolve(null));
    stream.once('error', (err: Error) => resolve(err.message));
  });
}

interface Usage {
  peakMemoryBytes: number | null;
  cpuSeconds: number | null;
}

/**
 * Samples the engine's stats of the container (its cgroup) while it runs and returns a stop
 * function giving the peak memory and the CPU time. The cgroup goes with the container's
 * last process, so whatever happens after the last sample is not seen: the CPU time is the
 * last sample's (up to an interval short; null for a task that ended before the first one).
 * Under cgroup v1 the engine reports the kernel's own memory peak (max_usage), so a sample
 * taken after the peak is exact; under cgroup v2 only the current usage, so the peak is the
 * highest sample.
 */
function trackUsage(container: Dockerode.Container): () => Usage {
  const stop = new AbortController();
  const usage: Usage = { peakMemoryBytes: null, cpuSeconds: null };
  void (async () => {
    while (!stop.signal.aborted) {
      try {
        const { memory_stats: m, cpu_stats: c } = await container.stats({ stream: false, 'one-shot': true });
        const bytes = m?.max_usage ?? m?.usage;
        const nanos = c?.cpu_usage?.total_usage;
        if (!stop.signal.aborted) {
          if (typeof bytes === 'number' && bytes > 0) usage.peakMemoryBytes = Math.max(usage.peakMemoryBytes ?? 0, bytes);
          if (typeof nanos === 'number' && nanos > 0) usage.cpuSeconds = Math.max(usage.cpuSeconds ?? 0, nanos / 1e9);
        }
      } catch {
        return; // The container is gone: there is nothing left to measure.
      }
      await sleep(USAGE_SAMPLE_MS, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  })();
  return () => {
    stop.abort();
    return { ...usage };
  };
}

/**
 * Makes the mounted dirs usable by a container running as any user (--user, or an image's
 * own USER): writable like a normal /tmp where the task writes, readable where it reads.
 * Modes already wide enough are left alone, so a shared cache owned by someone else is fine.
 */
async function openToContainerUser(dirs: ExecutionDirs): Promise<void> {
  const widen = async (dir: string, bits: number) => {
    const { mode } = await stat(dir);
    if ((mode & bits) !== bits) await chmod(dir, (mode & 0o7777) | bits);
  };
  await widen(dirs.temp, 0o1777);
  await widen(dirs.output, 0o1777);
  await widen(dirs.input, 0o755);
  await widen(dirs.resource, 0o755);
}

/** Docker reads `since` as seconds.nanoseconds, so a plain float would be misread. */
function dockerTimestamp(unixSeconds: number): string {
  const seconds = Math.floor(unixSeconds);
  const nanos = Math.min(999_999_999, Math.round((unixSeconds - seconds) * 1e9));
  return `${seconds}.${String(nanos).padStart(9, '0')}`;
}

/** Registry host of an image reference, as Docker decides it. */
function imageRegistry(image: string): string {
  const first = image.split('/')[0];
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

function registryOf(serveraddress: string | undefined): string {
  const host = (serveraddress ?? 'docker.io').replace(/^https?:\/\//, '').split('/')[0];
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host) ? 'docker.io' : host;
}
