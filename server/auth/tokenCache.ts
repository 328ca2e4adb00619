// Tokens as every request checks them: from memory when the token was seen lately, so that a
// busy client does not cost a database lookup per request. A revocation must still take
// effect at once on every server: revoking (token.revoked) updates the token's row, and a
// trigger on api_tokens (sql/0010_token_notify.sql) notifies labq_tokens at commit, also
// for a row edited by hand. Every server process receives it and drops its whole cache. A
// LISTEN reconnect drops it too, since notifications may have been missed meanwhile. Only
// valid tokens are kept, until they expire and for at most TTL_MS (a last resort should a notification be lost
// without the connection failing), and at most MAX_ENTRIES of them,
// the least recently used going first. Unknown tokens are not cached: a guess always
// reaches the database, and a token created elsewhere works at once. Nor are worker tokens
// not yet bound to a worker: their first registration binds them (in the workers
// projection, which notifies nothing), and the poll that follows, on this server or
// another, must see the binding. A binding, once made, changes only when its token is
// revoked (another token may then take the worker over), so a cached one is never stale.
import type { Pool } from '../db/pool.js';
import { TOKENS_CHANNEL, type ListenHub } from '../listen/hub.js';
import { tokenHash, verifyToken, type Identity } from './tokens.js';

const MAX_ENTRIES = 10_000;
const TTL_MS = 60_000;

export class TokenCache {
  /** Lookups that went to the database: what the cache saves is visible here. */
  lookups = 0;
  /** By the token's hash, in order of last use (a Map keeps insertion order). */
  private readonly entries = new Map<string, { identity: Identity; until: number }>();
  /** Bumped at every drop, so that a lookup that raced a revocation is not cached after it. */
  private generation = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly pool: Pool, hub: ListenHub) {
    this.unsubscribe = hub.subscribe((channel) => {
      if (channel === null || channel === TOKENS_CHANNEL) this.drop();
    });
  }

  async verify(value: string): Promise<Identity | 'expired' | null> {
    const key = tokenHash(value).toString('base64');
    const entry = this.entries.get(key);
    this.entries.delete(key);
    if (entry && entry.until > Date.now()) {
      this.entries.set(key, entry);
      return entry.identity;
    }
    const generation = this.generation;
    this.lookups++;
    const identity = await verifyToken(this.pool, value);
    const unbound = identity && identity !== 'expired' && identity.role === 'worker' && identity.workerId === null;
    if (identity && identity !== 'expired' && !unbound && generation === this.generation) {
      // An expiring token leaves the cache when it expires, so that the next use is refused.
      const until = Math.min(Date.now() + TTL_MS, identity.expiresAt ? Date.parse(identity.expiresAt) : Infinity);
      this.entries.set(key, { identity, until });
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    return identity;
  }

  drop(): void {
    this.generation++;
    this.entries.clear();
  }

  stop(): void {
    this.unsubscribe();
    this.drop();
  }
}
