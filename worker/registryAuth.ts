// Registry credentials for image pulls, read where Docker users already keep them: the
// `auths` of ~/.docker/config.json (or $DOCKER_CONFIG/config.json), as written by
// `docker login`. Credential helpers (credsStore) are not consulted. Never logged.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RegistryAuth } from './runners/docker.js';

export async function dockerConfigCredentials(dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker')): Promise<RegistryAuth[]> {
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch {
    return [];
  }
  const out: RegistryAuth[] = [];
  for (const [server, entry] of Object.entries(config.auths ?? {})) {
    let username = entry.username;
    let password = entry.password;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    if (username && password) out.push({ username, password, serveraddress: server });
  }
  return out;
}
