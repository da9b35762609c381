import type { Manager } from '@twilio/flex-ui';

/** Where the plugin reads its settings: `ui_attributes.flexrec` of the Flex configuration. */
export const CONFIG_KEY = 'flexrec';

export interface FlexrecConfig {
  /** Base URL of the flexrec service, e.g. https://recording.example.com (no trailing slash). */
  serviceUrl: string;
  /** Seconds a state long poll may wait for a change (the service caps it at 30). */
  waitSeconds: number;
}

export class ConfigError extends Error {}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function section(manager: Manager): Record<string, unknown> | undefined {
  // ui_attributes as stored by the Flex Configuration API; Flex also merges them into
  // manager.configuration, which some hosts (and older Flex builds) fill instead.
  const raw = manager.serviceConfiguration?.ui_attributes?.[CONFIG_KEY];
  const merged = manager.configuration?.[CONFIG_KEY];
  const found = raw ?? merged;
  return found && typeof found === 'object' ? (found as Record<string, unknown>) : undefined;
}

/** The plugin's settings, or a ConfigError saying what to set. */
export function readConfig(manager: Manager): FlexrecConfig {
  const settings = section(manager);
  const url = settings?.serviceUrl;
  if (typeof url !== 'string' || url.trim() === '') {
    throw new ConfigError(
      `flexrec is not configured: set ui_attributes.${CONFIG_KEY}.serviceUrl in the Flex configuration`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new ConfigError(`ui_attributes.${CONFIG_KEY}.serviceUrl is not a URL: ${url}`);
  }
  // The agent's token travels to this URL: only over TLS, except to a developer's own machine.
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && LOCAL_HOSTS.has(parsed.hostname))) {
    throw new ConfigError(`ui_attributes.${CONFIG_KEY}.serviceUrl must be https: ${url}`);
  }
  const wait = Number(settings?.waitSeconds ?? 25);
  return {
    serviceUrl: parsed.origin + parsed.pathname.replace(/\/+$/, ''),
    waitSeconds: Number.isFinite(wait) ? Math.min(Math.max(wait, 1), 30) : 25,
  };
}
