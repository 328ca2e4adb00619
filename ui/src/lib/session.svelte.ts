// Who is logged in, and the API client that speaks for them. A password login rides on the
// server's HttpOnly session cookie (the page never sees it) plus the CSRF token, which
// GET /auth/me hands back after a reload; a token login keeps the token for this tab only
// (sessionStorage), so closing the tab forgets it.
import { LabqApiError, LabqClient } from '../../../shared/client.js';
import type { Me } from '../../../shared/schemas/account.js';

const TOKEN_KEY = 'labq.token';

class Session {
  me = $state<Me | null>(null);
  /** Whether the first look for an existing session is over. */
  checked = $state(false);
  client = $state(new LabqClient({ server: '' }));

  /** Operators and admins see the buttons that change things; viewers do not (the server refuses them anyway). */
  get canSteer(): boolean {
    return this.me?.role === 'admin' || this.me?.role === 'operator';
  }

  async restore(): Promise<void> {
    const token = sessionStorage.getItem(TOKEN_KEY);
    try {
      await this.adopt(new LabqClient({ server: '', token: token ?? undefined }));
    } catch (error) {
      if (!(error instanceof LabqApiError && error.status === 401)) throw error;
      sessionStorage.removeItem(TOKEN_KEY);
    } finally {
      this.checked = true;
    }
  }

  async loginWithPassword(name: string, password: string): Promise<void> {
    const answer = await new LabqClient({ server: '' }).call('login', { body: { name, password } });
    await this.adopt(new LabqClient({ server: '', csrfToken: answer.csrf_token }));
  }

  async loginWithToken(token: string): Promise<void> {
    await this.adopt(new LabqClient({ server: '', token }));
    sessionStorage.setItem(TOKEN_KEY, token);
  }

  async logout(): Promise<void> {
    if (this.me?.kind === 'session') await this.client.call('logout').catch(() => undefined);
    sessionStorage.removeItem(TOKEN_KEY);
    this.me = null;
    this.client = new LabqClient({ server: '' });
  }

  /** The session ended under us (expired, revoked): back to the login, keeping where we were. */
  expired(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    this.me = null;
  }

  private async adopt(client: LabqClient): Promise<void> {
    const me = await client.me();
    this.client = me.csrf_token ? new LabqClient({ server: '', token: client.token, csrfToken: me.csrf_token }) : client;
    this.me = me;
  }
}

export const session = new Session();

/** The API client of whoever is logged in. */
export function api(): LabqClient {
  return session.client;
}
