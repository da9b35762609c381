import React from 'react';
import type * as Flex from '@twilio/flex-ui';

import { PAUSE_ACTION, RESUME_ACTION, registerRecordingActions } from './actions';
import { FetchLike, FlexrecClient } from './api';
import { ConfigError, readConfig } from './config';
import { RecordingPanel } from './components/RecordingPanel';
import { RecordingStore } from './store';
import { TokenSource } from './token';

export type FlexHost = Pick<typeof Flex, 'Actions' | 'CallCanvas' | 'withTaskContext'>;

export interface Installed {
  store: RecordingStore;
  tokens: TokenSource;
}

/** Wires the plugin into Flex: the Actions and the call canvas panel. Null when unconfigured. */
export function installFlexrec(flex: FlexHost, manager: Flex.Manager, fetchImpl?: FetchLike): Installed | null {
  let config;
  try {
    config = readConfig(manager);
  } catch (exc) {
    if (exc instanceof ConfigError) {
      // A plugin without its URL must not break Flex: say what to set, add nothing.
      console.error(`[flexrec] ${exc.message}`);
      return null;
    }
    throw exc;
  }
  const tokens = new TokenSource(manager);
  const doFetch: FetchLike = fetchImpl ?? ((url, init) => window.fetch(url, init));
  const client = new FlexrecClient(config.serviceUrl, () => tokens.current(), doFetch);
  const store = new RecordingStore(client, { waitSeconds: config.waitSeconds });
  tokens.onChange(() => store.nudgeAll()); // a watch refused for an old token retries at once
  registerRecordingActions(flex, store);
  const invoke = (action: 'pause' | 'resume', task: Flex.ITask): Promise<unknown> =>
    flex.Actions.invokeAction(action === 'pause' ? PAUSE_ACTION : RESUME_ACTION, { task });
  const Panel = flex.withTaskContext((props: { task?: Flex.ITask }) => (
    <RecordingPanel task={props.task} store={store} identity={manager.user?.identity ?? ''} invoke={invoke} client={client} />
  ));
  flex.CallCanvas.Content.add(<Panel key="flexrec-recording" />, { sortOrder: -1 });
  return { store, tokens };
}
