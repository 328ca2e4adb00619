// Tunables of the server's queue behaviour, from the environment, with the defaults the
// docs describe.
export interface QueueSettings {
  /** How long a live execution survives without hearing from its worker. */
  leaseSeconds: number;
  /** A worker not heard from for this long shows offline; after leaseSeconds, lost. */
  offlineAfterSeconds: number;
  /** Output kept per execution; beyond it chunks are dropped and a truncation mark stored. */
  outputCapBytes: number;
  /** A task whose executions were lost this many times fails instead of going back to pending. */
  maxLostExecutions: number;
}

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

export function queueSettings(overrides: Partial<QueueSettings> = {}): QueueSettings {
  return {
    leaseSeconds: positive('LABQ_LEASE_SECONDS', 30),
    offlineAfterSeconds: positive('LABQ_OFFLINE_AFTER_SECONDS', 15),
    outputCapBytes: positive('LABQ_OUTPUT_CAP_BYTES', 64 * 1024 * 1024),
    maxLostExecutions: positive('LABQ_MAX_LOST_EXECUTIONS', 3),
    ...overrides,
  };
}
