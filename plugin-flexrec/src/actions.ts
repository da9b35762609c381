import type * as Flex from '@twilio/flex-ui';

import type { RecordingState } from './api';
import type { RecordingStore } from './store';

export const PAUSE_ACTION = 'PauseRecording';
export const RESUME_ACTION = 'ResumeRecording';

/** Payload of both Actions: a Flex task, or just its SID (a CRM that knows only the SID). */
export interface RecordingActionPayload {
  task?: Flex.ITask;
  taskSid?: string;
}

function taskSidOf(payload: RecordingActionPayload | undefined): string {
  const sid = payload?.taskSid ?? payload?.task?.taskSid;
  if (!sid) {
    throw new Error('PauseRecording/ResumeRecording need a `task` or a `taskSid` in the payload');
  }
  return sid;
}

/**
 * Registers `PauseRecording` and `ResumeRecording` in the Flex Actions Framework, so another
 * plugin or a CRM embedding Flex can pause from its own payment form:
 * `Actions.invokeAction('PauseRecording', { taskSid: 'WT…' })`. The action resolves with the
 * recording's new state and rejects with the service's refusal (ApiError: status, message).
 */
export function registerRecordingActions(flex: Pick<typeof Flex, 'Actions'>, store: RecordingStore): void {
  flex.Actions.registerAction(PAUSE_ACTION, (payload: RecordingActionPayload): Promise<RecordingState> =>
    store.pause(taskSidOf(payload)),
  );
  flex.Actions.registerAction(RESUME_ACTION, (payload: RecordingActionPayload): Promise<RecordingState> =>
    store.resume(taskSidOf(payload)),
  );
}
