import type { Manager, TokenPayload } from '@twilio/flex-ui';

/**
 * The agent's current Flex token. Flex renews it before it expires and announces the new one
 * with the `tokenUpdated` event; every request reads the token afresh from here.
 */
export class TokenSource {
  private token: string;
  private readonly listeners = new Set<() => void>();
  private readonly onUpdate = (payload: TokenPayload): void => {
    const next = payload?.token || this.manager.user?.token;
    if (next && next !== this.token) {
      this.token = next;
      this.listeners.forEach((listener) => listener());
    }
  };

  constructor(private readonly manager: Manager) {
    this.token = manager.user?.token ?? '';
    manager.events.addListener('tokenUpdated', this.onUpdate);
  }

  /** The token to send now. */
  current(): string {
    return this.token;
  }

  /** Calls `listener` after each renewal; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops following Flex's renewals. */
  close(): void {
    this.manager.events.removeListener('tokenUpdated', this.onUpdate);
    this.listeners.clear();
  }
}
