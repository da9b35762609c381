import type { Action, Snapshot } from './store';

/** What the indicator shows: a kind (its colour and `data-state`), a label and a detail line. */
export type IndicatorKind =
  | 'loading'
  | 'recording'
  | 'paused'
  | 'starting'
  | 'waiting'
  | 'not_recorded'
  | 'failed'
  | 'ended'
  | 'forbidden'
  | 'unknown';

export interface Indicator {
  kind: IndicatorKind;
  label: string;
  detail: string | null;
}

export interface ButtonModel {
  action: Action;
  label: string;
  disabled: boolean;
  reason: string | null; // why it is disabled, shown next to it and as its tooltip
}

/** A time of day as the agent reads it (their locale, their zone). */
export function clock(iso: string | number | null): string | null {
  if (iso === null || iso === undefined) {
    return null;
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function who(identity: string | null, me: string): string {
  if (!identity) {
    return 'outside Flex';
  }
  return identity === me ? 'you' : identity;
}

/** The indicator for a snapshot, seen by the agent whose Flex identity is `me`. */
export function describeIndicator(snapshot: Snapshot, me: string): Indicator {
  const { state, phase } = snapshot;
  if (phase === 'forbidden') {
    return { kind: 'forbidden', label: 'Recording: not your call', detail: snapshot.problem };
  }
  if (!state) {
    if (phase === 'loading') {
      return { kind: 'loading', label: 'Checking the recording…', detail: null };
    }
    return { kind: 'unknown', label: 'Recording status unknown', detail: snapshot.problem };
  }
  const stale = phase === 'ready' ? null : snapshot.problem;
  const since = clock(state.start_time_ms);
  switch (state.state) {
    case 'recording':
      return { kind: 'recording', label: 'Recording', detail: stale ?? (since ? `since ${since}` : null) };
    case 'paused': {
      const at = clock(state.paused_at);
      const by = state.paused_by === null && !at ? 'Paused outside Flex' : `Paused by ${who(state.paused_by, me)}`;
      return { kind: 'paused', label: 'Recording paused', detail: stale ?? (at ? `${by} at ${at}` : by) };
    }
    case 'pending':
    case 'starting':
      return {
        kind: 'starting',
        label: 'Starting recording…',
        detail:
          stale ??
          (state.pause_pending
            ? `Will start paused (asked by ${who(state.paused_by, me)})`
            : 'It starts when the customer is connected'),
      };
    case 'waiting':
      return {
        kind: 'waiting',
        label: 'Not recording yet',
        detail:
          stale ??
          (state.pause_pending
            ? `Will start paused (asked by ${who(state.paused_by, me)})`
            : 'It starts when the customer answers'),
      };
    case 'not_recorded':
      return { kind: 'not_recorded', label: 'Not recorded', detail: state.detail ? `Policy: ${state.detail}` : null };
    case 'absent':
      return { kind: 'not_recorded', label: 'Not recorded', detail: 'The call had no leg to record' };
    case 'failed':
      return { kind: 'failed', label: 'Recording failed', detail: state.detail };
    case 'completed':
    case 'ended':
      return { kind: 'ended', label: 'Recording ended', detail: null };
    default:
      return { kind: 'unknown', label: `Recording: ${state.state}`, detail: stale };
  }
}

/** The one Pause/Resume button for a snapshot, on a task whose reservation is `taskStatus`. */
export function describeButton(snapshot: Snapshot, taskStatus: string | undefined): ButtonModel {
  const { state, phase, busy } = snapshot;
  const paused = state?.state === 'paused' || Boolean(state?.pause_pending);
  const action: Action = paused ? 'resume' : 'pause';
  const label = busy === 'pause' ? 'Pausing…' : busy === 'resume' ? 'Resuming…' : paused ? 'Resume recording' : 'Pause recording';
  const off = (reason: string): ButtonModel => ({ action, label, disabled: true, reason });
  if (busy) {
    return { action, label, disabled: true, reason: null };
  }
  if (phase === 'forbidden') {
    return off('Not your task: only the agent on the call or a supervisor can pause it.');
  }
  if (taskStatus && taskStatus !== 'accepted') {
    return off(taskStatus === 'wrapping' || taskStatus === 'completed' ? 'The call has ended.' : 'The call is not connected yet.');
  }
  if (!state) {
    return off(phase === 'loading' ? 'Checking the recording…' : snapshot.problem ?? 'The recording state is unknown.');
  }
  switch (state.state) {
    case 'not_recorded':
    case 'absent':
      return off('This call is not recorded.');
    case 'failed':
      return off('The recording failed; there is nothing to pause.');
    case 'completed':
    case 'ended':
      return off('The call has ended.');
    default:
      break;
  }
  if (!state.may_act) {
    return off('You are no longer on this call.');
  }
  return { action, label, disabled: false, reason: null };
}
