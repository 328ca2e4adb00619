// Docker runner against a real engine and the locally built busybox image: exit codes, output
// streams, mounts and env, options as the engine applies them, kills, suspend and resume,
// and re-attaching to a container left running (or paused) by another worker process. Without an engine these tests fail (run
// scripts/ensure-docker.sh): a worker that cannot run containers must not pass.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { ensureTestImage } from '../../e2e/support/images.js';
import { DEFAULT_DOCKER_POLICY, parseContainerOptions } from '../../shared/dockerPolicy.js';
import { DockerRunner } from './docker.js';
import { engineLoggedOom, killedAtLimit } from './dockerOom.js';
import type { RunSpec } from './types.js';
import { assertBurstsWhole, assertNoGraceIsKillAlone, assertStreamsApart, collector, makeDirs } from '../../e2e/support/runnerSpec.js';

const docker = new Dockerode();
const runner = new DockerRunner({ docker });
let image = '';
let nextExecutionId = 1_000_000 + Math.floor(Math.random() * 1_000_000);

before(async () => { image = await ensureTestImage(docker); });



async function spec(command: string, extra: Partial<RunSpec> = {}) {
  const out = collector();
  const s: RunSpec = {
    executionId: nextExecutionId++, command, shell: 'sh', container: image, containerOptions: [], env: {},
    dirs: await makeDirs('labq-docker-test-'), cpus: 1, onOutput: out.onOutput, ...extra,
  };
  return { spec: s, out };
}

async function run(command: string, extra: Partial<RunSpec> = {}) {
  const { spec: s, out } = await spec(command, extra);
  const result = await (await runner.start(s)).wait();
  return { result, out, dirs: s.dirs };
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await sleep(50);
  assert.ok(existsSync(path), `${path} never appeared`);
}

async function assertRemoved(containerId: string): Promise<void> {
  await assert.rejects(docker.getContainer(containerId).inspect(), { statusCode: 404 });
}

test('reports exit codes and removes the container', async () => {
  const { spec: s } = await spec('exit 3');
  const handle = await runner.start(s);
  const result = await handle.wait();
  assert.equal(result.exitCode, 3);
  assert.equal(result.signal, null);
  assert.equal(result.error, null);
  await assertRemoved(handle.ref);
});

test('keeps stdout and stderr apart and in order', () => assertStreamsApart(run));

test('runs a multi-line script with the chosen shell', async () => {
  const script = 'set -e\ngreet() {\n  echo "hello $1"\n}\nfor n in 1 2; do\n  greet "$n"\ndone\nexit 2';
  const { result, out } = await run(script, { shell: 'sh' });
  assert.equal(result.exitCode, 2);
  assert.equal(out.text('stdout'), 'hello 1\nhello 2\n');
});

test('sets the labq env, the task env and --env, and starts in /tmp', async () => {
  const { result, out } = await run('echo "$INPUT|$OUTPUT|$TEMP|$RESOURCE|$CPU|$FOO|$BAZ|$(pwd)"', {
    env: { FOO: 'bar baz', INPUT: 'overridden by labq' }, containerOptions: ['--env=BAZ=qux'], cpus: 2,
  });
  assert.equal(result.exitCode, 0);
  assert.equal(out.text('stdout'), '/input|/output|/tmp|/resource|2|bar baz|qux|/tmp\n');
});

test('mounts input, output, temp and a read-only resource dir', async () => {
  const dirs = await makeDirs('labq-docker-test-');
  await writeFile(join(dirs.input, 'in.txt'), 'from input\n');
  await writeFile(join(dirs.resource, 'ref.txt'), 'from resource\n');
  const { result, out } = await run(
    'cat /input/in.txt /resource/ref.txt > /output/out.txt\necho scratch > /tmp/scratch\nif touch /resource/new 2>/dev/null; then echo writable; else echo read-only; fi',
    { dirs },
  );
  assert.equal(result.exitCode, 0);
  assert.equal(out.text('stdout'), 'read-only\n');
  assert.equal(await readFile(join(dirs.output, 'out.txt'), 'utf8'), 'from input\nfrom resource\n');
  assert.equal(await readFile(join(dirs.temp, 'scratch'), 'utf8'), 'scratch\n');
  assert.ok(!existsSync(join(dirs.resource, 'new')));
});

test('a 5 MB burst on each stream arrives complete', () => assertBurstsWhole(run));

test('applies --memory, --cpus, --user and --workdir, and labels the container', async () => {
  const { spec: s, out } = await spec('id -u; pwd; echo written > /output/by-user; sleep 300', {
    containerOptions: ['--memory=64m', '--cpus', '0.5', '--user=65534:65534', '-w', '/output'],
  });
  const handle = await runner.start(s);
  const info = await docker.getContainer(handle.ref).inspect();
  assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
  assert.equal(info.HostConfig.NanoCpus, 500_000_000);
  assert.equal(info.Config.User, '65534:65534');
  assert.equal(info.Config.WorkingDir, '/output');
  assert.equal(info.Config.Labels['labq.execution'], String(s.executionId));
  await waitForFile(join(s.dirs.output, 'by-user'));
  await handle.kill(1000);
  assert.equal(out.text('stdout'), '65534\n/output\n');
});

test('reports peak memory', async () => {
  const { result } = await run('x=$(head -c 20000000 /dev/zero | tr "\\0" a); sleep 2.5; echo ${#x}');
  assert.equal(result.exitCode, 0);
  assert.ok(result.peakMemoryBytes !== null && result.peakMemoryBytes >= 10_000_000, `peak ${result.peakMemoryBytes}`);
});

test('reports CPU time', async () => {
  const { result } = await run('i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 2.5');
  assert.equal(result.exitCode, 0);
  assert.ok(result.cpuSeconds !== null && result.cpuSeconds > 0, `cpu ${result.cpuSeconds}`);
});

test('runs under the task\'s memory requirement, without swap; a task killed at that limit is reported oomKilled', async () => {
  // dd allocates a buffer of one block: 48 MiB, beyond a 32 MiB limit; it waits for the test to look at the container first.
  // The shell outlives dd by a second, so the engine hears of the kill while the container runs and says so in its
  // inspect (when the killed process is the container's last, a loaded engine may hear of it after the exit: see
  // the test of its event log below).
  const { spec: s } = await spec('while [ ! -e go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=48M count=1; s=$?; sleep 1; exit $s', { memoryMb: 32 });
  const handle = await runner.start(s);
  const info = await docker.getContainer(handle.ref).inspect();
  assert.deepEqual([info.HostConfig.Memory, info.HostConfig.MemorySwap], [32 * 1024 ** 2, 32 * 1024 ** 2]);
  await writeFile(join(s.dirs.temp, 'go'), '');
  const result = await handle.wait();
  assert.notEqual(result.exitCode, 0);
  assert.equal(result.oomKilled, true);
  assert.match(result.error ?? '', /out of memory \(limit 32 MiB\)/);
  assert.ok(result.peakMemoryBytes !== null && result.peakMemoryBytes >= 32 * 1024 ** 2, 'it reached its limit');

  const roomy = await run('dd if=/dev/zero of=/dev/null bs=48M count=1', { memoryMb: 128 });
  assert.deepEqual([roomy.result.exitCode, roomy.result.oomKilled], [0, false]);
  const own = await spec('sleep 300', { memoryMb: 128, containerOptions: ['--memory=64m'] });
  const ownHandle = await runner.start(own.spec);
  assert.equal((await docker.getContainer(ownHandle.ref).inspect()).HostConfig.Memory, 64 * 1024 ** 2, 'the task\'s own --memory wins');
  await ownHandle.kill(0);
});

test('an OOM kill the engine heard of only after the exit is one still: its event log says so', async () => {
  // The kernel really kills dd at the limit; the shell outlives it, so the engine's log surely has the kill. The
  // inspect is then given as a loaded engine gives it when the exit came first: OOMKilled false.
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=48M count=1; s=$?; sleep 1; exit $s'],
    HostConfig: { Init: true, Memory: 32 * 1024 ** 2, MemorySwap: 32 * 1024 ** 2 },
  });
  try {
    await container.start();
    assert.equal((await container.wait()).StatusCode, 137);
    const info = await container.inspect();
    assert.equal(info.State.OOMKilled, true, 'the kernel killed dd at the limit');
    const late = { ...info, State: { ...info.State, OOMKilled: false } };
    assert.equal(await killedAtLimit(docker, late, 137, false), true, 'the engine\'s log has the kill');
    assert.equal(await killedAtLimit(docker, late, 137, true), false, 'a SIGKILL labq sent explains the exit');
    assert.equal(await killedAtLimit(docker, { ...late, HostConfig: { ...late.HostConfig, Memory: 0 } }, 137, false), false, 'no limit, no kill at it');
    assert.equal(await killedAtLimit(docker, info, 0, false), false, 'a task that went on and succeeded did not fail for it');
  } finally {
    await container.remove({ force: true });
  }
});

test('a SIGKILL nobody sent to a task under a memory limit is no OOM kill: the engine logged none', async () => {
  const { spec: s } = await spec('kill -9 $$', { memoryMb: 32 });
  const handle = await runner.start(s);
  const result = await handle.wait();
  assert.deepEqual([result.exitCode, result.oomKilled, result.error], [137, false, null]);
  assert.equal(await engineLoggedOom(docker, handle.ref, Date.now() / 1000 - 60, 1000), false);
});

test('kill stops the container within the grace and removes it', async () => {
  const { spec: s } = await spec('sleep 300');
  const handle = await runner.start(s);
  const started = Date.now();
  // A grace far longer than the engine's slowest stop and removal on a loaded machine.
  await handle.kill(60_000);
  assert.ok(Date.now() - started < 30_000, 'sh under an init should end on TERM at once, not at the grace');
  assert.equal((await handle.wait()).signal, 'SIGTERM');
  await assertRemoved(handle.ref);
});

test('kill honours a TERM trap within the grace', async () => {
  const { spec: s, out } = await spec("trap 'echo cleaning up; exit 7' TERM\ntouch /tmp/ready\nsleep 300 &\nwait");
  const handle = await runner.start(s);
  await waitForFile(join(s.dirs.temp, 'ready'));
  await handle.kill(10_000);
  assert.equal((await handle.wait()).exitCode, 7);
  assert.equal(out.text('stdout'), 'cleaning up\n');
});

test('kill with no grace sends KILL alone: a TERM trap never runs', async () => {
  const handle = await assertNoGraceIsKillAlone('/tmp', async (script) => {
    const { spec: s } = await spec(script);
    const started = await runner.start(s);
    await waitForFile(join(s.dirs.temp, 'ready'));
    return { handle: started, temp: s.dirs.temp };
  });
  await assertRemoved(handle.ref);
});

test('kill escalates to KILL after the grace and removes the container', async () => {
  const { spec: s } = await spec("trap '' TERM\ntouch /tmp/ready\nwhile true; do sleep 1; done");
  const handle = await runner.start(s);
  await waitForFile(join(s.dirs.temp, 'ready'));
  const started = Date.now();
  await handle.kill(1000);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 950 && elapsed < 11_000, `kill took ${elapsed} ms`);
  assert.equal((await handle.wait()).signal, 'SIGKILL');
  await assertRemoved(handle.ref);
});

test('refuses unknown options and those the Docker policy forbids, naming them, and creates nothing', async () => {
  const { spec: s } = await spec('true', { containerOptions: ['--memory=1g', '--no-such-option'] });
  await assert.rejects(runner.start(s), /"--no-such-option"/);
  // Without a policy from the server, the defaults: nothing that reaches the host.
  const { spec: privileged } = await spec('true', { containerOptions: ['--memory=1g', '--privileged'] });
  await assert.rejects(runner.start(privileged), /container_options\[1\]: --privileged .*allow_privileged is false/);
  const { spec: allowed } = await spec('true', { containerOptions: ['--cap-drop=ALL', '-v', '/srv/data:/data'], dockerPolicy: { ...DEFAULT_DOCKER_POLICY, allowed_mount_prefixes: ['/nowhere'] } });
  await assert.rejects(runner.start(allowed), /container_options\[1\]: --volume: the host path \/srv\/data is not under .*allowed: \/nowhere/);
  for (const refused of [s, privileged, allowed]) assert.ok(!(await runner.listLabqContainers()).some((c) => c.executionId === refused.executionId));
  assert.throws(() => parseContainerOptions(['--memory=lots']), /--memory/);
  assert.throws(() => parseContainerOptions(['--volume=data/x:/x']), /--volume/);
  assert.deepEqual(parseContainerOptions(['--gpus=all', '--network=none', '-v', '/data:/data:ro']), {
    binds: ['/data:/data:ro'], env: {}, networkMode: 'none',
    deviceRequests: [{ Driver: '', Count: -1, Capabilities: [['gpu']] }],
  });
});

test('fails to start, clearly, when the image cannot be pulled', async () => {
  const { spec: s } = await spec('true', { container: 'labq-test/no-such-image:0' });
  await assert.rejects(runner.start(s), /cannot pull labq-test\/no-such-image:0/);
});

test('re-attaches to a container left running by a previous worker process', async () => {
  const { spec: s } = await spec('i=0\nwhile [ $i -lt 3 ]; do i=$((i+1)); echo tick $i; echo warn $i >&2; sleep 1; done\nexit 5');
  // A separate worker process starts the task and dies without waiting for it.
  const child = `
    const { DockerRunner } = await import(${JSON.stringify(new URL('./docker.js', import.meta.url).href)});
    const spec = JSON.parse(process.argv[1]);
    const handle = await new DockerRunner().start({ ...spec, onOutput() {} });
    console.log(handle.ref);
    process.exit(0);`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', child, JSON.stringify(s)]);
  const containerId = stdout.trim();

  const listed = (await runner.listLabqContainers()).find((c) => c.executionId === s.executionId);
  assert.deepEqual(listed, { executionId: s.executionId, containerId, running: true, paused: false });

  const out = collector();
  const handle = await runner.reattach(s.executionId, out.onOutput, 0);
  assert.equal(handle.ref, containerId);
  const result = await handle.wait();
  assert.equal(result.exitCode, 5);
  assert.equal(out.text('stdout'), 'tick 1\ntick 2\ntick 3\n');
  assert.equal(out.text('stderr'), 'warn 1\nwarn 2\nwarn 3\n');
  await assertRemoved(containerId);
});

test('suspend pauses the container and resume unpauses it, each once however often asked; a re-attached paused container says so', async () => {
  const { spec: s, out } = await spec('touch /tmp/ready\nwhile [ ! -e /tmp/go ]; do sleep 0.1; done\necho went');
  const handle = await runner.start(s);
  await waitForFile(join(s.dirs.temp, 'ready'));
  await Promise.all([handle.suspend(), handle.suspend()]);
  assert.equal(handle.suspended, true);
  assert.equal((await docker.getContainer(handle.ref).inspect()).State.Paused, true);

  // A daemon that restarts finds it paused: it must know, or it could never let it go on.
  const listed = (await runner.listLabqContainers()).find((c) => c.executionId === s.executionId);
  assert.deepEqual([listed?.running, listed?.paused], [false, true]);
  const again = await runner.reattach(s.executionId, () => undefined);
  assert.equal(again.suspended, true);
  await again.resume();
  await again.resume();
  assert.equal((await docker.getContainer(handle.ref).inspect()).State.Paused, false);

  await writeFile(join(s.dirs.temp, 'go'), '');
  assert.equal((await handle.wait()).exitCode, 0);
  assert.equal(out.text('stdout'), 'went\n');
  await again.wait();
  await again.suspend();
  assert.equal(again.suspended, false, 'an ended container is not suspended');
});
