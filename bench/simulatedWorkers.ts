// Workers that the benchmark plays itself, over HTTP, without a daemon: registered as a
// daemon registers (an instance UUID each), so that the server cannot tell them from real ones.
import { randomUUID } from 'node:crypto';
import type { LabqClient } from '../shared/client.js';

export interface SimulatedWorker {
  id: number;
  instance: string;
  settingsVersion: number;
}

/** Registers `count` workers named `prefix-0`, `prefix-1`…, of tag `default`, one after another. */
export async function registerSimulatedWorkers(client: LabqClient, prefix: string, count: number, concurrency: number): Promise<SimulatedWorker[]> {
  const workers: SimulatedWorker[] = [];
  for (let i = 0; i < count; i++) {
    const instance = randomUUID();
    const w = await client.registerWorker({
      name: count === 1 ? prefix : `${prefix}-${i}`, instance, hostname: 'bench', cpus: 4, memory_mb: 4096, docker: false, concurrency, tags: ['default'],
    });
    workers.push({ id: w.id, instance, settingsVersion: w.settings_version });
  }
  return workers;
}
