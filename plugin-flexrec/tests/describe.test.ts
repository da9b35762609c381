import { describeButton, describeIndicator } from '../src/describe';
import { INITIAL, Snapshot } from '../src/store';
import { recordingState } from './fakes';

const ready = (change: Parameters<typeof recordingState>[0] = {}): Snapshot => ({
  ...INITIAL,
  phase: 'ready',
  state: recordingState(change),
});

describe('the indicator', () => {
  it.each([
    ['recording', ready(), 'recording', 'Recording'],
    ['paused', ready({ state: 'paused', paused_by: 'bob', paused_at: '2026-01-05T14:03:00Z' }), 'paused', 'Recording paused'],
    ['pending', ready({ state: 'pending', recording_sid: null }), 'starting', 'Starting recording…'],
    ['starting', ready({ state: 'starting' }), 'starting', 'Starting recording…'],
    ['waiting', ready({ state: 'waiting', recording_sid: null }), 'waiting', 'Not recording yet'],
    ['not_recorded', ready({ state: 'not_recorded', detail: 'queue excluded' }), 'not_recorded', 'Not recorded'],
    ['absent', ready({ state: 'absent' }), 'not_recorded', 'Not recorded'],
    ['failed', ready({ state: 'failed', detail: 'Twilio 21220' }), 'failed', 'Recording failed'],
    ['completed', ready({ state: 'completed' }), 'ended', 'Recording ended'],
    ['ended', ready({ state: 'ended' }), 'ended', 'Recording ended'],
    ['loading', INITIAL, 'loading', 'Checking the recording…'],
    ['forbidden', { ...INITIAL, phase: 'forbidden', problem: 'not yours' } as Snapshot, 'forbidden', 'Recording: not your call'],
    ['unknown task', { ...INITIAL, phase: 'unknown', problem: 'not seen yet' } as Snapshot, 'unknown', 'Recording status unknown'],
  ])('shows %s', (_name, snapshot, kind, label) => {
    const shown = describeIndicator(snapshot, 'alice');
    expect(shown.kind).toBe(kind);
    expect(shown.label).toBe(label);
  });

  it('names who paused and when, and says "you" for the agent', () => {
    const snapshot = ready({ state: 'paused', paused_by: 'alice', paused_at: '2026-01-05T14:03:00Z' });
    expect(describeIndicator(snapshot, 'alice').detail).toMatch(/^Paused by you at \d/);
    expect(describeIndicator(snapshot, 'sue').detail).toMatch(/^Paused by alice at \d/);
  });

  it('says when a pause was made outside Flex', () => {
    expect(describeIndicator(ready({ state: 'paused' }), 'alice').detail).toBe('Paused outside Flex');
  });

  it('says a pending pause will apply when the recording starts', () => {
    const snapshot = ready({ state: 'pending', pause_pending: true, paused_by: 'alice' });
    expect(describeIndicator(snapshot, 'alice').detail).toBe('Will start paused (asked by you)');
  });

  it('gives the policy reason for a call not recorded', () => {
    expect(describeIndicator(ready({ state: 'not_recorded', detail: 'internal call: no customer leg' }), 'a').detail).toBe(
      'Policy: internal call: no customer leg',
    );
  });

  it('keeps the last known state but shows the problem while the service is unreachable', () => {
    const snapshot: Snapshot = { ...ready(), phase: 'offline', problem: 'Cannot reach the recording service; retrying.' };
    const shown = describeIndicator(snapshot, 'alice');
    expect(shown.kind).toBe('recording');
    expect(shown.detail).toBe('Cannot reach the recording service; retrying.');
  });
});

describe('the button', () => {
  it('pauses a recording and resumes a paused one', () => {
    expect(describeButton(ready(), 'accepted')).toEqual({ action: 'pause', label: 'Pause recording', disabled: false, reason: null });
    expect(describeButton(ready({ state: 'paused' }), 'accepted')).toMatchObject({ action: 'resume', label: 'Resume recording', disabled: false });
  });

  it('may pause before the customer answers (the recording then starts paused), and then offers to resume', () => {
    expect(describeButton(ready({ state: 'waiting', recording_sid: null }), 'accepted')).toMatchObject({ action: 'pause', disabled: false });
    const kept = ready({ state: 'waiting', recording_sid: null, pause_pending: true, paused_by: 'alice' });
    expect(describeButton(kept, 'accepted')).toMatchObject({ action: 'resume', disabled: false });
    expect(describeIndicator(kept, 'alice').detail).toBe('Will start paused (asked by you)');
  });

  it('may pause before the recording starts, and then offers to resume', () => {
    expect(describeButton(ready({ state: 'pending' }), 'accepted')).toMatchObject({ action: 'pause', disabled: false });
    expect(describeButton(ready({ state: 'starting', pause_pending: true }), 'accepted')).toMatchObject({ action: 'resume', disabled: false });
  });

  it.each([
    ['not their task', { ...INITIAL, phase: 'forbidden' } as Snapshot, 'accepted', 'Not your task'],
    ['not recorded', ready({ state: 'not_recorded' }), 'accepted', 'not recorded'],
    ['failed', ready({ state: 'failed' }), 'accepted', 'failed'],
    ['call ended (server)', ready({ state: 'ended' }), 'accepted', 'The call has ended.'],
    ['call ended (wrap-up)', ready(), 'wrapping', 'The call has ended.'],
    ['not yet connected', ready(), 'pending', 'not connected yet'],
    ['no longer on the call', ready({ may_act: false }), 'accepted', 'no longer on this call'],
    ['loading', INITIAL, 'accepted', 'Checking'],
  ])('is disabled with a reason: %s', (_name, snapshot, status, reason) => {
    const button = describeButton(snapshot, status);
    expect(button.disabled).toBe(true);
    expect(button.reason).toContain(reason);
  });

  it('is disabled without a reason while its request runs', () => {
    expect(describeButton({ ...ready(), busy: 'pause' }, 'accepted')).toMatchObject({ label: 'Pausing…', disabled: true, reason: null });
    expect(describeButton({ ...ready({ state: 'paused' }), busy: 'resume' }, 'accepted')).toMatchObject({ label: 'Resuming…', disabled: true });
  });
});
