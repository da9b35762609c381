import type { Manager, TokenPayload } from '@twilio/flex-ui';

/** A Flex Manager with the members the plugin reads, and a way to renew the token. */
export function fakeManager(uiAttributes: Record<string, unknown> = {}, token = 'tok-1') {
  const listeners = new Set<(payload: TokenPayload) => void>();
  const manager = {
    user: { token, identity: 'alice', roles: ['agent'] },
    configuration: {},
    serviceConfiguration: { ui_attributes: uiAttributes },
    events: {
      addListener: (_event: string, listener: (payload: TokenPayload) => void) => listeners.add(listener),
      removeListener: (_event: string, listener: (payload: TokenPayload) => void) => listeners.delete(listener),
    },
  } as unknown as Manager;
  const renew = (next: string): void => {
    (manager.user as { token: string }).token = next;
    listeners.forEach((listener) => listener({ token: next }));
  };
  return { manager, renew, listeners };
}
