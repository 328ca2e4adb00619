// Finding the Docker engine a worker may use, and only then loading the Docker runner: its
// client library is large, and a worker's size makes every fork it makes slower (a bare
// task's, where there is no task launcher), so a worker without an engine never loads it.
import { access } from 'node:fs/promises';
import { dockerConfigCredentials } from './registryAuth.js';
import type { DockerRunner } from './runners/docker.js';

/** The Docker runner when an engine answers; `on` refuses to go without one, `off` never looks. */
export async function detectDocker(mode: 'auto' | 'on' | 'off', workerName: string, log: (line: string) => void): Promise<DockerRunner | null> {
  if (mode === 'off') return null;
  try {
    // Without DOCKER_HOST the engine can only be at its default socket.
    if (!process.env.DOCKER_HOST) await access('/var/run/docker.sock');
    const [{ default: Dockerode }, { DockerRunner }] = await Promise.all([import('dockerode'), import('./runners/docker.js')]);
    const docker = new Dockerode();
    await docker.ping();
    return new DockerRunner({ docker, labels: { 'labq.worker': workerName }, credentials: await dockerConfigCredentials() });
  } catch (error) {
    if (mode === 'on') throw new Error(`no Docker engine answers: ${(error as Error).message}`);
    log('no Docker engine: only tasks without a container will be taken');
    return null;
  }
}
