// Command: replace the Docker policy. Recorded as policy.changed with the whole policy before
// and after (auditors read what changed without replaying); the policies projection keeps
// the latest. Setting the policy it already is writes nothing. Two admins changing it at
// once queue on an advisory lock rather than fail on the stream's version. Tasks already
// submitted are not re-checked here: the worker checks each container against the policy
// it receives with the assignment.
import { sql } from 'slonik';
import type { DockerPolicy } from '../../shared/dockerPolicy.js';
import { POLICY_STREAMS, type EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { dockerPolicy, type StoredPolicy } from '../queries/policies.js';

const POLICY_LOCK = 7_162_534_022;

export async function setDockerPolicy(pool: Pool, policy: DockerPolicy, meta: EventMeta): Promise<StoredPolicy> {
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${POLICY_LOCK})`);
    const current = await dockerPolicy(tx);
    if (JSON.stringify(current.policy) === JSON.stringify(policy)) return current;
    await recordEvents(tx, [{
      type: 'policy.changed', streamId: POLICY_STREAMS.docker, version: current.version + 1,
      data: { policy: 'docker', old: current.policy, new: policy },
    }], meta);
    return dockerPolicy(tx);
  });
}
