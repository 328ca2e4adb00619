// The docker-run-like options a task may carry, and the policy the admin sets on them. Pure
// (no I/O, no Node modules), so the server checks a submission, an edit or a sweep with the
// very parse the worker runs a container with: a task the server accepted is one the worker
// understands, and the worker checks the policy again before it starts a container (tasks
// submitted before a policy was tightened, or before there was one).
//
// Options are `--name=value` or `--name value` (and -u -m -v -e -w); `--privileged` needs no
// value. An option the worker does not know is refused rather than ignored.
import { z } from 'zod/v4';

const AbsolutePath = z.string().regex(/^\/[^\0]{0,4095}$/, 'an absolute path');
const Capability = z.string().regex(/^(CAP_)?[A-Za-z_]{1,64}$/, 'a capability name, e.g. NET_ADMIN or SYS_PTRACE, or ALL')
  .transform(capability);

/** What an admin allows; the defaults refuse everything that reaches the worker's host. */
export const DockerPolicy = z.strictObject({
  allowed_mount_prefixes: z.array(AbsolutePath).max(100).default([])
    .describe('host directories a --volume bind may mount, themselves or below them (named volumes are always allowed)'),
  allow_privileged: z.boolean().default(false)
    .describe('--privileged, and --security-opt values other than no-new-privileges (e.g. seccomp=unconfined)'),
  allowed_capabilities: z.array(Capability).max(64).default([])
    .describe('capabilities --cap-add may add (ALL: any); --cap-drop is always allowed'),
  allow_devices: z.boolean().default(false).describe('--device: host devices in the container'),
  allow_host_namespaces: z.boolean().default(false)
    .describe("the host's or another container's network, pid, ipc, uts, user or cgroup namespace (--network=host, --pid=host, …)"),
});
export type DockerPolicy = z.output<typeof DockerPolicy>;
export const DEFAULT_DOCKER_POLICY: DockerPolicy = DockerPolicy.parse({});

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** The options as they map onto the engine API's container and host config. */
export interface ContainerOptions {
  user?: string;
  nanoCpus?: number;
  memoryBytes?: number;
  deviceRequests?: Array<{ Driver: string; Count?: number; DeviceIDs?: string[]; Capabilities: string[][] }>;
  binds: string[];
  networkMode?: string;
  env: Record<string, string>;
  workingDir?: string;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  devices?: DeviceMapping[];
  pidMode?: string;
  ipcMode?: string;
  utsMode?: string;
  usernsMode?: string;
  cgroupnsMode?: string;
  securityOpt?: string[];
}

/** One problem with one option: its index in the task's list, and why. */
export interface OptionViolation {
  index: number;
  reason: string;
}

interface OptionRule {
  /** Reads the value into `into`, or throws saying what was expected. */
  set(value: string, into: ContainerOptions): void;
  /** Why the policy refuses this value, or null. */
  refuse?(value: string, policy: DockerPolicy): string | null;
  /** A flag: given alone, it means this value. */
  flag?: string;
}

function capability(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice(4) : upper;
}

/** `a/./b/../c` → `a/c`: what a bind source names once `.` and `..` are resolved, as the engine resolves them. */
function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

const under = (path: string, prefix: string) => {
  const p = normalizePath(prefix);
  return p === '/' || path === p || path.startsWith(p + '/');
};

const HOST_NAMESPACE = (value: string) => value === 'host' || value.startsWith('container:');
const namespaceRule = (option: string, pattern: RegExp, expected: string, key: keyof ContainerOptions): OptionRule => ({
  set(value, into) {
    if (!pattern.test(value)) throw new Error(`--${option}: expected ${expected}, got "${value}"`);
    (into as unknown as Record<string, string>)[key] = value;
  },
  refuse: (value, policy) => (HOST_NAMESPACE(value) && !policy.allow_host_namespaces
    ? `--${option}=${value} shares a namespace outside the container: refused by the Docker policy (allow_host_namespaces is false)` : null),
});

const SAFE_SECURITY_OPTS = /^no-new-privileges(?:[:=]true)?$/;

const RULES: Record<string, OptionRule> = {
  user: {
    set(value, into) {
      if (!/^[\w.-]+(:[\w.-]+)?$/.test(value)) throw new Error(`--user: expected name|uid[:group|gid], got "${value}"`);
      into.user = value;
    },
  },
  cpus: {
    set(value, into) {
      const cpus = Number(value);
      if (!(cpus > 0) || !Number.isFinite(cpus)) throw new Error(`--cpus: expected a positive number, got "${value}"`);
      into.nanoCpus = Math.round(cpus * 1e9);
    },
  },
  memory: {
    set(value, into) {
      const m = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(value);
      if (!m) throw new Error(`--memory: expected a size such as 512m or 8g, got "${value}"`);
      const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
      into.memoryBytes = Math.floor(Number(m[1]) * unit);
    },
  },
  gpus: {
    set(value, into) {
      const v = value.replace(/^"|"$/g, '');
      if (v === 'all') into.deviceRequests = [{ Driver: '', Count: -1, Capabilities: [['gpu']] }];
      else if (/^[1-9]\d*$/.test(v)) into.deviceRequests = [{ Driver: '', Count: Number(v), Capabilities: [['gpu']] }];
      else if (/^device=[\w,-]+$/.test(v)) into.deviceRequests = [{ Driver: '', DeviceIDs: v.slice(7).split(','), Capabilities: [['gpu']] }];
      else throw new Error(`--gpus: expected all, a count or device=ID[,ID…], got "${value}"`);
    },
  },
  volume: {
    set(value, into) {
      const [source, target, mode, ...rest] = value.split(':');
      const namedOrAbsolute = /^(\/|[a-zA-Z0-9][\w.-]*$)/;
      if (rest.length > 0 || !source || !namedOrAbsolute.test(source) || !target?.startsWith('/') ||
          (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
        throw new Error(`--volume: expected /host/path:/container/path[:ro|rw] or volume-name:/container/path, got "${value}"`);
      }
      into.binds.push(value);
    },
    refuse(value, policy) {
      const source = value.split(':')[0]!;
      if (!source.startsWith('/')) return null;
      const path = normalizePath(source);
      if (policy.allowed_mount_prefixes.some((prefix) => under(path, prefix))) return null;
      const allowed = policy.allowed_mount_prefixes.length ? `allowed: ${policy.allowed_mount_prefixes.join(', ')}` : 'no host directory is allowed';
      return `--volume: the host path ${path} is not under an allowed mount prefix of the Docker policy (${allowed})`;
    },
  },
  network: namespaceRule('network', /^[\w.:-]+$/, 'none, bridge, host or a network name', 'networkMode'),
  env: {
    set(value, into) {
      const eq = value.indexOf('=');
      if (eq < 1 || !/^[A-Za-z_]\w*$/.test(value.slice(0, eq))) throw new Error(`--env: expected NAME=value, got "${value}"`);
      into.env[value.slice(0, eq)] = value.slice(eq + 1);
    },
  },
  workdir: {
    set(value, into) {
      if (!value.startsWith('/')) throw new Error(`--workdir: expected an absolute path, got "${value}"`);
      into.workingDir = value;
    },
  },
  privileged: {
    flag: 'true',
    set(value, into) {
      if (value !== 'true' && value !== 'false') throw new Error(`--privileged: expected true or false, got "${value}"`);
      into.privileged = value === 'true';
    },
    refuse: (value, policy) => (value === 'true' && !policy.allow_privileged
      ? '--privileged gives the container every device and capability of the host: refused by the Docker policy (allow_privileged is false)' : null),
  },
  'cap-add': {
    set(value, into) {
      if (!/^(CAP_)?[A-Za-z_]{1,64}$/.test(value)) throw new Error(`--cap-add: expected a capability name, got "${value}"`);
      (into.capAdd ??= []).push(capability(value));
    },
    refuse(value, policy) {
      const allowed = policy.allowed_capabilities;
      if (allowed.includes('ALL') || allowed.includes(capability(value))) return null;
      return `--cap-add=${capability(value)}: refused by the Docker policy (allowed capabilities: ${allowed.length ? allowed.join(', ') : 'none'})`;
    },
  },
  'cap-drop': {
    set(value, into) {
      if (!/^(CAP_)?[A-Za-z_]{1,64}$/.test(value)) throw new Error(`--cap-drop: expected a capability name, got "${value}"`);
      (into.capDrop ??= []).push(capability(value));
    },
  },
  device: {
    set(value, into) {
      const [host, second, third, ...rest] = value.split(':');
      const containerPath = third !== undefined || second?.startsWith('/') ? second! : host;
      const permissions = third ?? (second !== undefined && !second.startsWith('/') ? second : 'rwm');
      if (rest.length > 0 || !host?.startsWith('/') || !containerPath?.startsWith('/') || !/^[rwm]{1,3}$/.test(permissions)) {
        throw new Error(`--device: expected /dev/host[:/dev/container][:rwm], got "${value}"`);
      }
      (into.devices ??= []).push({ PathOnHost: host, PathInContainer: containerPath, CgroupPermissions: permissions });
    },
    refuse: (_value, policy) => (policy.allow_devices ? null : '--device gives the container a device of the host: refused by the Docker policy (allow_devices is false)'),
  },
  pid: namespaceRule('pid', /^(host|container:[\w.-]+)$/, 'host or container:NAME', 'pidMode'),
  ipc: namespaceRule('ipc', /^(host|private|shareable|none|container:[\w.-]+)$/, 'private, shareable, none, host or container:NAME', 'ipcMode'),
  uts: namespaceRule('uts', /^host$/, 'host', 'utsMode'),
  userns: namespaceRule('userns', /^host$/, 'host', 'usernsMode'),
  cgroupns: namespaceRule('cgroupns', /^(host|private)$/, 'host or private', 'cgroupnsMode'),
  'security-opt': {
    set(value, into) {
      if (!/^[\w.-]+([:=][^\0]*)?$/.test(value)) throw new Error(`--security-opt: expected NAME[=VALUE], got "${value}"`);
      (into.securityOpt ??= []).push(value);
    },
    refuse: (value, policy) => (SAFE_SECURITY_OPTS.test(value) || policy.allow_privileged
      ? null : `--security-opt=${value} weakens the container's confinement: refused by the Docker policy (only no-new-privileges is allowed while allow_privileged is false)`),
  },
};

/** Recognised but never run: each would reach past what a task is given, in ways a policy cannot bound. */
const NEVER: Record<string, string> = {
  mount: '--mount is not supported: use --volume, which the Docker policy checks',
  'volumes-from': "--volumes-from would mount another container's volumes: not supported",
};

const SHORT: Record<string, string> = { u: 'user', m: 'memory', v: 'volume', e: 'env', w: 'workdir' };
const LONG_ALIASES: Record<string, string> = { net: 'network' };

interface ParsedOption {
  index: number;
  name: string;
  value: string;
}

/** Splits the list into options with their values; what cannot be read becomes a violation. */
function tokenize(options: readonly string[]): { parsed: ParsedOption[]; problems: OptionViolation[] } {
  const parsed: ParsedOption[] = [];
  const problems: OptionViolation[] = [];
  for (let i = 0; i < options.length; i++) {
    const option = options[i]!;
    const m = /^(?:--([a-z][a-z-]+)|-([a-z]))(?:=(.*))?$/s.exec(option);
    // hasOwn: `--constructor` must not find Object.prototype's.
    const name = m && (m[1] ? (Object.hasOwn(LONG_ALIASES, m[1]) ? LONG_ALIASES[m[1]]! : m[1]) : (Object.hasOwn(SHORT, m[2]!) ? SHORT[m[2]!] : undefined));
    if (name && Object.hasOwn(NEVER, name)) {
      problems.push({ index: i, reason: NEVER[name]! });
      if (m![3] === undefined) i++;
      continue;
    }
    const rule = name && Object.hasOwn(RULES, name) ? RULES[name] : undefined;
    if (!m || !rule) {
      const supported = Object.keys(RULES).map((o) => `--${o}`).join(' ');
      problems.push({ index: i, reason: `unsupported container option "${option}" (supported: ${supported})` });
      continue;
    }
    const index = i;
    const value = m[3] ?? rule.flag ?? options[++i];
    if (value === undefined) problems.push({ index, reason: `container option "${option}" needs a value` });
    else parsed.push({ index, name: name!, value });
  }
  return { parsed, problems };
}

function read(options: readonly string[]): { parsed: ParsedOption[]; into: ContainerOptions; problems: OptionViolation[] } {
  const { parsed, problems } = tokenize(options);
  const into: ContainerOptions = { binds: [], env: {} };
  for (const option of parsed) {
    try {
      RULES[option.name]!.set(option.value, into);
    } catch (error) {
      problems.push({ index: option.index, reason: (error as Error).message });
    }
  }
  return { parsed, into, problems: problems.sort((a, b) => a.index - b.index) };
}

/** The options as the engine takes them; throws naming the first option that cannot be read. */
export function parseContainerOptions(options: readonly string[]): ContainerOptions {
  const { into, problems } = read(options);
  if (problems.length) throw new Error(problems[0]!.reason);
  return into;
}

/** Every option that cannot be read or that the policy refuses, by index, in order. */
export function containerOptionViolations(options: readonly string[], policy: DockerPolicy): OptionViolation[] {
  const { parsed, problems } = read(options);
  const refused = parsed.flatMap((option) => {
    const reason = RULES[option.name]!.refuse?.(option.value, policy) ?? null;
    return reason && !problems.some((p) => p.index === option.index) ? [{ index: option.index, reason }] : [];
  });
  return [...problems, ...refused].sort((a, b) => a.index - b.index);
}
