import { ApiError, FlexrecClient } from '../src/api';
import { RecordingStore, Snapshot } from '../src/store';
import { TokenSource } from '../src/token';
import { FakeFlexrec, TASK } from './fakes';
import { fakeManager } from './fake-manager';

const FAST = { waitSeconds: 20, retryS: { unknown: 0.01, offline: 0.01, unavailable: 0.01, forbidden: 0.01, error: 0.01, unauthorized: 60 } };

function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) {
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        reject(new Error('condition not met in time'));
      } else {
        setTimeout(tick, 2);
      }
    };
    tick();
  });
}

describe('following a task', () => {
  let stop: () => void = () => undefined;
  afterEach(() => stop());

  it('long-polls with the ETag it has and shows each change once', async () => {
    const server = new FakeFlexrec();
    const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => 'tok-1', server.fetch), FAST);
    const seen: Snapshot[] = [];
    stop = store.subscribe(TASK, (s) => seen.push(s));
    await until(() => server.gets().length === 2);
    expect(server.gets()[0].url).toBe(`https://rec.example.com/api/agent/tasks/${TASK}/recording`);
    expect(server.gets()[0].headers['If-None-Match']).toBeUndefined();
    expect(server.gets()[0].init).toMatchObject({ cache: 'no-store', credentials: 'omit', mode: 'cors' });
    expect(server.gets()[1].url).toContain('?wait=20');
    server.set({ state: 'paused', paused_by: 'bob' });
    await until(() => store.get(TASK).state?.state === 'paused');
    expect(seen.map((s) => s.state?.state)).toEqual(['recording', 'paused']);
  });

  it('a 304 keeps the state and polls again', async () => {
    const server = new FakeFlexrec();
    const answers = [304];
    const client = new FlexrecClient('https://rec.example.com', () => 'tok-1', async (url, init) => {
      const headers = init.headers as Record<string, string>;
      if (headers['If-None-Match'] && answers.length) {
        answers.shift();
        return { status: 304, headers: { get: () => server.etag }, json: async () => undefined };
      }
      return server.fetch(url, init);
    });
    const store = new RecordingStore(client, FAST);
    stop = store.subscribe(TASK, () => undefined);
    await until(() => server.gets().length === 2); // the first long poll went to the 304 script
    expect(store.get(TASK).state?.state).toBe('recording');
    expect(store.get(TASK).phase).toBe('ready');
  });

  it('waits for the service to learn of a new task (404) and then follows it', async () => {
    const server = new FakeFlexrec();
    server.refuse('GET state', { status: 404, error: 'not_found', message: 'task unknown' });
    const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => 'tok-1', server.fetch), FAST);
    const phases: string[] = [];
    stop = store.subscribe(TASK, (s) => phases.push(s.phase));
    await until(() => store.get(TASK).phase === 'ready');
    expect(phases[0]).toBe('unknown');
  });

  it('a 503 on the state waits Retry-After, then retries', async () => {
    const server = new FakeFlexrec();
    server.refuse('GET state', { status: 503, error: 'token_service_unavailable', message: 'retry', retryAfter: '0.05' });
    const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => 'tok-1', server.fetch), FAST);
    stop = store.subscribe(TASK, () => undefined);
    await until(() => store.get(TASK).phase === 'unavailable');
    expect(store.get(TASK).problem).toContain('retrying');
    await until(() => store.get(TASK).phase === 'ready');
  });
});

describe('the agent’s token', () => {
  it('is read afresh for every request and a renewal ends a 401 wait at once', async () => {
    const server = new FakeFlexrec();
    const { manager, renew } = fakeManager({}, 'tok-old');
    const tokens = new TokenSource(manager);
    const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => tokens.current(), server.fetch), FAST);
    tokens.onChange(() => store.nudgeAll());
    const stop = store.subscribe(TASK, () => undefined);
    try {
      await until(() => store.get(TASK).phase === 'unauthorized');
      expect(server.gets()[0].headers.Authorization).toBe('Bearer tok-old');
      server.valid.add('tok-new');
      renew('tok-new'); // Flex's tokenUpdated: no 60 s wait (FAST.unauthorized)
      await until(() => store.get(TASK).phase === 'ready', 1000);
      expect(server.gets().slice(-1)[0]?.headers.Authorization).toBe('Bearer tok-new');
      await store.pause(TASK);
      expect(server.seen.slice(-1)[0]?.headers.Authorization).toBe('Bearer tok-new');
    } finally {
      stop();
      tokens.close();
    }
  });

  it('stops listening to Flex when closed', () => {
    const { manager, listeners } = fakeManager();
    const tokens = new TokenSource(manager);
    expect(listeners.size).toBe(1);
    tokens.close();
    expect(listeners.size).toBe(0);
  });
});

describe('actions on the store', () => {
  it('reject with the service’s refusal and leave it on the snapshot', async () => {
    const server = new FakeFlexrec();
    const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => 'tok-1', server.fetch), FAST);
    const stop = store.subscribe(TASK, () => undefined);
    try {
      await until(() => store.get(TASK).phase === 'ready');
      server.refuse('POST resume', { status: 409, error: 'invalid_state', message: 'not paused' });
      const refusal = await store.resume(TASK).catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(ApiError);
      expect((refusal as ApiError).status).toBe(409);
      expect(store.get(TASK).failure).toMatchObject({ action: 'resume', status: 409 });
      expect(store.get(TASK).busy).toBeNull();
    } finally {
      stop();
    }
  });

  it('refuse a malformed task SID without a request', async () => {
    const server = new FakeFlexrec();
    const store = new RecordingStore(new FlexrecClient('https://rec.example.com', () => 'tok-1', server.fetch), FAST);
    await expect(store.pause('WT-nope')).rejects.toMatchObject({ status: 400 });
    expect(server.seen).toEqual([]);
  });
});
