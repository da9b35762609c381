import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { ITask } from '@twilio/flex-ui';

import { FlexrecClient } from '../src/api';
import { RecordingPanel } from '../src/components/RecordingPanel';
import { RecordingStore } from '../src/store';
import { FakeFlexrec, TASK } from './fakes';

const FAST = { waitSeconds: 25, retryS: { unknown: 0.01, offline: 0.01, unavailable: 0.01, forbidden: 0.01, unauthorized: 0.01, error: 0.01 } };

function voiceTask(change: Partial<ITask> = {}): ITask {
  return { taskSid: TASK, sid: 'WR' + 'c'.repeat(32), taskChannelUniqueName: 'voice', status: 'accepted', attributes: {}, ...change };
}

function mount(server: FakeFlexrec, task: ITask = voiceTask(), token = 'tok-1') {
  const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => token, server.fetch), FAST);
  const invoke = jest.fn((action: 'pause' | 'resume', t: ITask) => (action === 'pause' ? store.pause(t.taskSid) : store.resume(t.taskSid)));
  const view = render(<RecordingPanel task={task} store={store} identity="alice" invoke={invoke} />);
  return { store, invoke, view };
}

const indicator = () => screen.getByTestId('flexrec-indicator');
const button = () => screen.getByTestId('flexrec-button') as HTMLButtonElement;

afterEach(() => jest.useRealTimers());

describe('the call canvas panel', () => {
  let server: FakeFlexrec;
  let unmount: () => void = () => undefined;
  beforeEach(() => {
    server = new FakeFlexrec();
  });
  afterEach(() => unmount());

  it('shows the server state, then follows its changes without a reload', async () => {
    server.set({ state: 'waiting', recording_sid: null });
    ({ view: { unmount } } = mount(server));
    expect(indicator()).toHaveAttribute('data-state', 'loading');
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'waiting'));
    // The agent may pause before the customer answers: the recording will start paused.
    expect(button()).toBeEnabled();
    expect(button()).toHaveTextContent('Pause recording');
    expect(screen.getByTestId('flexrec-detail')).toHaveTextContent('It starts when the customer answers');
    // The long poll carries the ETag it has and waits; the customer answers: it answers.
    await waitFor(() => expect(server.gets().length).toBe(2));
    expect(server.gets()[1].headers['If-None-Match']).toBe(server.etag);
    expect(server.gets()[1].url).toContain('?wait=25');
    act(() => server.set({ state: 'recording', recording_sid: 'RE' + '1'.repeat(32) }));
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'recording'));
    expect(button()).toBeEnabled();
    expect(button()).toHaveTextContent('Pause recording');
  });

  it('shows who paused and since when, from another tab or a supervisor', async () => {
    ({ view: { unmount } } = mount(server));
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'recording'));
    act(() => server.set({ state: 'paused', paused_by: 'sue', paused_at: '2026-01-05T14:03:00Z' }));
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'paused'));
    expect(screen.getByTestId('flexrec-detail')).toHaveTextContent(/^Paused by sue at \d/);
    expect(button()).toHaveTextContent('Resume recording');
  });

  it('pauses and resumes with one click each, through the Flex Action', async () => {
    let invoke: jest.Mock;
    ({ invoke, view: { unmount } } = mount(server));
    await waitFor(() => expect(button()).toBeEnabled());
    fireEvent.click(button());
    expect(invoke).toHaveBeenCalledWith('pause', expect.objectContaining({ taskSid: TASK }));
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'paused'));
    expect(screen.getByTestId('flexrec-detail')).toHaveTextContent(/^Paused by you at/);
    expect(server.seen.filter((s) => s.method === 'POST').map((s) => s.url)).toEqual([
      `https://rec.example.com/api/agent/tasks/${TASK}/recording/pause`,
    ]);
    fireEvent.click(button());
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'recording'));
    expect(invoke).toHaveBeenLastCalledWith('resume', expect.anything());
  });

  it('disables the button for another agent’s task and says why', async () => {
    server.foreign.add('tok-1');
    ({ view: { unmount } } = mount(server));
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'forbidden'));
    expect(button()).toBeDisabled();
    expect(screen.getByTestId('flexrec-reason')).toHaveTextContent('Not your task');
  });

  it.each([
    [403, 'forbidden', "You can’t pause this recording: only the agent on the call or a supervisor can.", false],
    [409, 'invalid_state', 'The recording can’t be paused right now: recording already completed', false],
    [503, 'twilio_unavailable', 'Twilio didn’t answer the recording service. Try again in 5 s.', true],
  ])('shows a refused pause (%i) plainly', async (status, error, message, retry) => {
    ({ view: { unmount } } = mount(server));
    await waitFor(() => expect(button()).toBeEnabled());
    server.refuse('POST pause', { status, error, message: 'recording already completed', retryAfter: status === 503 ? '5' : undefined });
    fireEvent.click(button());
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent(message);
    expect(alert).toHaveAttribute('data-status', String(status));
    expect(indicator()).toHaveAttribute('data-state', 'recording'); // nothing changed
    expect(screen.queryByTestId('flexrec-retry') !== null).toBe(retry);
    if (retry) {
      fireEvent.click(screen.getByTestId('flexrec-retry'));
      await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'paused'));
      expect(screen.queryByRole('alert')).toBeNull();
    }
  });

  it('shows a network failure with a retry', async () => {
    ({ view: { unmount } } = mount(server));
    await waitFor(() => expect(button()).toBeEnabled());
    server.offline = true;
    fireEvent.click(button());
    expect(await screen.findByRole('alert')).toHaveTextContent('can’t be reached');
    expect(screen.getByTestId('flexrec-retry')).toBeInTheDocument();
    server.offline = false;
  });

  it('lets the agent dismiss an error', async () => {
    ({ view: { unmount } } = mount(server));
    await waitFor(() => expect(button()).toBeEnabled());
    server.refuse('POST pause', { status: 409, error: 'invalid_state', message: 'no' });
    fireEvent.click(button());
    await screen.findByRole('alert');
    fireEvent.click(screen.getByLabelText('Dismiss'));
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('disables the button during wrap-up', async () => {
    ({ view: { unmount } } = mount(server, voiceTask({ status: 'wrapping' })));
    await waitFor(() => expect(indicator()).toHaveAttribute('data-state', 'recording'));
    expect(button()).toBeDisabled();
    expect(screen.getByTestId('flexrec-reason')).toHaveTextContent('The call has ended.');
  });

  it('renders nothing for a task that is not a voice call', () => {
    const { view } = mount(server, voiceTask({ taskChannelUniqueName: 'chat' }));
    unmount = view.unmount;
    expect(view.container).toBeEmptyDOMElement();
    expect(server.seen).toEqual([]);
  });

  it('stops following the task when the panel goes away', async () => {
    const { view } = mount(server);
    await waitFor(() => expect(server.gets().length).toBe(2));
    const held = server.gets()[1];
    view.unmount();
    expect((held.init.signal as AbortSignal).aborted).toBe(true);
  });
});
