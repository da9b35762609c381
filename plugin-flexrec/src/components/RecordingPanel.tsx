import React from 'react';
import type { ITask } from '@twilio/flex-ui';

import type { FlexrecClient } from '../api';
import { describeButton, describeIndicator, IndicatorKind } from '../describe';
import type { Action, RecordingStore } from '../store';
import { useRecording } from '../useRecording';
import { CardDataNotice } from './CardDataNotice';

export interface RecordingPanelProps {
  task?: ITask;
  store: RecordingStore;
  /** The signed-in agent's Flex identity (to say "Paused by you"). */
  identity: string;
  /** Runs the Flex Action (`PauseRecording`/`ResumeRecording`) for this task. */
  invoke: (action: Action, task: ITask) => Promise<unknown>;
  /** Asks, once the call is over, whether card data was read while recording (optional). */
  client?: FlexrecClient;
}

const COLOURS: Record<IndicatorKind, string> = {
  recording: '#d61f1f',
  paused: '#f47c22',
  starting: '#606b85',
  waiting: '#606b85',
  loading: '#606b85',
  not_recorded: '#606b85',
  ended: '#606b85',
  failed: '#d61f1f',
  forbidden: '#606b85',
  unknown: '#606b85',
};

const styles = {
  panel: { display: 'flex', flexDirection: 'column', gap: 6, padding: '8px 12px', margin: '8px 0', borderRadius: 4, background: 'rgba(255,255,255,0.08)', fontFamily: 'inherit', fontSize: 14, maxWidth: 360 } as React.CSSProperties,
  row: { display: 'flex', alignItems: 'center', gap: 8 } as React.CSSProperties,
  dot: (kind: IndicatorKind): React.CSSProperties => ({ width: 10, height: 10, borderRadius: '50%', background: COLOURS[kind], flex: 'none' }),
  detail: { fontSize: 12, opacity: 0.8 } as React.CSSProperties,
  button: { padding: '6px 12px', borderRadius: 4, border: '1px solid currentColor', background: 'transparent', color: 'inherit', cursor: 'pointer', fontWeight: 600 } as React.CSSProperties,
  reason: { fontSize: 12, opacity: 0.8 } as React.CSSProperties,
  failure: { fontSize: 12, color: '#ff6b6b', display: 'flex', gap: 8, alignItems: 'center' } as React.CSSProperties,
};

/** The call canvas panel: the recording indicator and its one Pause/Resume button. */
export function RecordingPanel({ task, store, identity, invoke, client }: RecordingPanelProps): JSX.Element | null {
  const taskSid = task && task.taskChannelUniqueName === 'voice' ? task.taskSid : undefined;
  const snapshot = useRecording(store, taskSid);
  if (!task || !taskSid) {
    return null;
  }
  const indicator = describeIndicator(snapshot, identity);
  const button = describeButton(snapshot, task.status);
  const click = (action: Action): void => {
    // The failure is on the snapshot already (the store saw it); nothing else to do here.
    invoke(action, task).catch(() => undefined);
  };
  const failure = snapshot.failure;
  const ended = task.status === 'wrapping' || task.status === 'completed' || indicator.kind === 'ended';
  return (
    <div className="flexrec-recording" data-testid="flexrec-recording" style={styles.panel}>
      <div
        className="flexrec-indicator"
        data-testid="flexrec-indicator"
        data-state={indicator.kind}
        role="status"
        aria-live="polite"
        style={styles.row}
      >
        <span style={styles.dot(indicator.kind)} aria-hidden="true" />
        <span>
          <strong data-testid="flexrec-label">{indicator.label}</strong>
          {indicator.detail ? (
            <div data-testid="flexrec-detail" style={styles.detail}>
              {indicator.detail}
            </div>
          ) : null}
        </span>
      </div>
      <div style={styles.row}>
        <button
          type="button"
          data-testid="flexrec-button"
          data-action={button.action}
          disabled={button.disabled}
          title={button.reason ?? undefined}
          aria-describedby={button.reason ? `flexrec-reason-${taskSid}` : undefined}
          onClick={() => click(button.action)}
          style={{ ...styles.button, whiteSpace: 'nowrap', opacity: button.disabled ? 0.5 : 1, cursor: button.disabled ? 'not-allowed' : 'pointer' }}
        >
          {button.label}
        </button>
        {button.reason ? (
          <span id={`flexrec-reason-${taskSid}`} data-testid="flexrec-reason" style={styles.reason}>
            {button.reason}
          </span>
        ) : null}
      </div>
      {failure ? (
        <div role="alert" data-testid="flexrec-failure" data-status={failure.status ?? 'network'} style={styles.failure}>
          <span>{failure.message}</span>
          {failure.status === 503 || failure.status === null ? (
            <button type="button" data-testid="flexrec-retry" style={styles.button} onClick={() => click(failure.action)}>
              Retry
            </button>
          ) : null}
          <button type="button" aria-label="Dismiss" style={styles.button} onClick={() => store.dismiss(taskSid)}>
            ×
          </button>
        </div>
      ) : null}
      {client ? <CardDataNotice client={client} taskSid={taskSid} ended={ended} /> : null}
    </div>
  );
}
