import React from 'react';
import { render, screen, waitFor } from '@testing-library/react';
import type { ITask } from '@twilio/flex-ui';

import { CardDataNotice as Notice, FlexrecClient } from '../src/api';
import { followCardData } from '../src/afterCall';
import { CardDataNotice } from '../src/components/CardDataNotice';
import { RecordingPanel } from '../src/components/RecordingPanel';
import { RecordingStore } from '../src/store';
import { FakeFlexrec, TASK } from './fakes';

const QUICK = { intervalS: 0.01, maxWaitS: 5 };

function notice(change: Partial<Notice> = {}): Notice {
  return { task_sid: TASK, recording_sid: 'RE' + '1'.repeat(32), status: 'pending', card_data: [], ...change };
}

const SILENCED = notice({
  status: 'checked',
  card_data: [
    {
      start_ms: 20_000,
      end_ms: 26_300,
      kinds: ['card_number', 'security_code'],
      at: '2026-01-05T14:00:20Z',
      text: 'Card number spoken while recording, 00:20\u201300:26, silenced',
    },
  ],
  advice: 'Pause the recording before the customer reads card details.',
});

function client(server: FakeFlexrec, token = 'tok-1'): FlexrecClient {
  return new FlexrecClient('https://rec.example.com', () => token, server.fetch);
}

describe('the after-call card-data notice', () => {
  let server: FakeFlexrec;
  beforeEach(() => {
    server = new FakeFlexrec();
  });

  it('asks the task’s card-data path until the archive has checked the recording', async () => {
    server.cardData = [notice(), notice(), SILENCED];
    const seen: string[] = [];
    const stop = followCardData(client(server), TASK, (n) => seen.push(n.status), QUICK);
    await waitFor(() => expect(seen).toEqual(['pending', 'pending', 'checked']));
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    const asked = server.gets().map((s) => s.url);
    expect(asked).toHaveLength(3); // checked is final: no more questions
    expect(asked[0]).toBe(`https://rec.example.com/api/agent/tasks/${TASK}/card-data`);
    expect(server.gets()[0].headers.Authorization).toBe('Bearer tok-1');
  });

  it('stops at once for another agent’s task, and keeps asking through a network error', async () => {
    server.foreign.add('tok-1');
    server.cardData = [SILENCED];
    const seen: string[] = [];
    followCardData(client(server), TASK, (n) => seen.push(n.status), QUICK);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(server.gets()).toHaveLength(1);
    expect(seen).toEqual([]);

    const flaky = new FakeFlexrec();
    flaky.cardData = [SILENCED];
    flaky.offline = true;
    const stop = followCardData(client(flaky), TASK, (n) => seen.push(n.status), QUICK);
    await waitFor(() => expect(flaky.seen.length).toBeGreaterThan(1));
    flaky.offline = false;
    await waitFor(() => expect(seen).toEqual(['checked']));
    stop();
  });

  it('shows each reading with its time and the advice, no digit, and nothing before the call ends', async () => {
    server.cardData = [notice(), SILENCED];
    const view = render(<CardDataNotice client={client(server)} taskSid={TASK} ended={false} options={QUICK} />);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(server.gets()).toHaveLength(0); // the call is not over: nothing asked
    view.rerender(<CardDataNotice client={client(server)} taskSid={TASK} ended options={QUICK} />);
    await waitFor(() => expect(screen.getByTestId('flexrec-card-data')).toBeInTheDocument());
    const reading = screen.getByTestId('flexrec-card-reading');
    expect(reading).toHaveTextContent(/^Card number spoken while recording, 00:20–00:26, silenced \(at \d/);
    expect(screen.getByRole('alert')).toHaveTextContent('Pause the recording before the customer reads card details.');
    expect(screen.getByRole('alert').textContent?.replace(/\d\d:\d\d(:\d\d)?/g, '')).not.toMatch(/\d/);
    view.unmount();
  });

  it('shows nothing for a clean call, and “checking” while the archive works', async () => {
    server.cardData = [notice(), notice({ status: 'checked' })];
    const view = render(<CardDataNotice client={client(server)} taskSid={TASK} ended options={{ intervalS: 0.05, maxWaitS: 5 }} />);
    await waitFor(() => expect(screen.getByTestId('flexrec-card-check')).toHaveTextContent('Checking the recording'));
    await waitFor(() => expect(screen.queryByTestId('flexrec-card-check')).toBeNull());
    expect(screen.queryByTestId('flexrec-card-data')).toBeNull();
    view.unmount();
  });

  it('appears in the call canvas panel once the agent is wrapping up', async () => {
    server.set({ state: 'completed' });
    server.cardData = [SILENCED];
    const c = client(server);
    const store = new RecordingStore(c, { waitSeconds: 25 });
    const task = { taskSid: TASK, sid: 'WR' + 'c'.repeat(32), taskChannelUniqueName: 'voice', status: 'wrapping', attributes: {} } as ITask;
    const view = render(<RecordingPanel task={task} store={store} identity="alice" invoke={jest.fn()} client={c} />);
    await waitFor(() => expect(screen.getByTestId('flexrec-card-data')).toBeInTheDocument());
    expect(screen.getByTestId('flexrec-indicator')).toHaveAttribute('data-state', 'ended');
    view.unmount();
  });
});
