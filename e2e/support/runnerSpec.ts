// What both runner test files need: scratch execution folders, removed after the file,
// and an output collector that keeps the streams apart and remembers their order.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { ExecutionDirs, OutputStream } from '../../worker/runners/types.js';

const scratch: string[] = [];
after(() => Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true }))));

export async function makeDirs(prefix: string): Promise<ExecutionDirs> {
  const base = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(base);
  const dirs = { input: join(base, 'input'), output: join(base, 'output'), temp: join(base, 'temp'), resource: join(base, 'resource') };
  for (const dir of Object.values(dirs)) await mkdir(dir);
  return dirs;
}

export function collector() {
  const chunks: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const order: OutputStream[] = [];
  return {
    onOutput(stream: OutputStream, chunk: Buffer) {
      chunks[stream].push(chunk);
      order.push(stream);
    },
    text: (stream: OutputStream) => Buffer.concat(chunks[stream]).toString(),
    order,
  };
}
