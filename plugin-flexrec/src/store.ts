import { ApiError, FlexrecClient, NetworkError, RecordingState, StateAnswer } from './api';

/**
 * Where the plugin's view of a task's recording comes from:
 * - loading: first answer pending; ready: `state` is the server's;
 * - forbidden (403: not this agent's task), unknown (404: the service has not seen the task
 *   yet), unauthorized (401: token refused, waiting for Flex to renew it), unavailable (503),
 *   offline (network), error (anything else). Each keeps the last known state, if any.
 */
export type Phase = 'loading' | 'ready' | 'forbidden' | 'unknown' | 'unauthorized' | 'unavailable' | 'offline' | 'error';

export type Action = 'pause' | 'resume';

export interface ActionFailure {
  action: Action;
  status: number | null; // null: network
  message: string;
  retryAfterS: number | null;
}

export interface Snapshot {
  phase: Phase;
  state: RecordingState | null;
  problem: string | null; // why the phase is not `ready`, in plain words
  busy: Action | null;
  failure: ActionFailure | null;
}

export const INITIAL: Snapshot = { phase: 'loading', state: null, problem: null, busy: null, failure: null };

export interface StoreOptions {
  waitSeconds: number;
  /** Seconds between retries after a refusal or a network error, per phase. */
  retryS?: Partial<Record<Phase, number>>;
}

const RETRY_S: Record<Phase, number> = {
  loading: 1,
  ready: 0,
  forbidden: 15, // the reservation may still arrive (a transfer being accepted)
  unknown: 2, // the service's webhooks may lag the agent's screen by a moment
  unauthorized: 10, // or sooner: a token renewal wakes the watch at once
  unavailable: 5,
  offline: 2,
  error: 10,
};

type Listener = (snapshot: Snapshot) => void;

/** Follows one task's recording with long polls while anyone listens. */
class TaskWatch {
  snapshot: Snapshot = INITIAL;
  etag: string | null = null;
  readonly listeners = new Set<Listener>();
  private controller: AbortController | null = null;
  private wake: (() => void) | null = null;
  private running = false;

  constructor(
    readonly taskSid: string,
    private readonly client: FlexrecClient,
    private readonly options: StoreOptions,
  ) {}

  set(change: Partial<Snapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    this.listeners.forEach((listener) => listener(this.snapshot));
  }

  accept(answer: StateAnswer): void {
    if (answer.changed) {
      this.etag = answer.etag;
      this.set({ phase: 'ready', state: answer.state, problem: null });
    }
  }

  start(): void {
    if (!this.running) {
      this.running = true;
      void this.run();
    }
  }

  stop(): void {
    this.running = false;
    this.controller?.abort();
    this.nudge();
  }

  /** Ends a pause between retries (a renewed token, a new subscriber). */
  nudge(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.controller = new AbortController();
      let retryS = 0;
      try {
        const answer = await this.client.getState(this.taskSid, {
          etag: this.snapshot.phase === 'ready' ? this.etag : null,
          waitSeconds: this.options.waitSeconds,
          signal: this.controller.signal,
        });
        this.accept(answer);
      } catch (exc) {
        if (!this.running) {
          return;
        }
        const [phase, problem, after] = classify(exc);
        retryS = after ?? this.options.retryS?.[phase] ?? RETRY_S[phase];
        this.set({ phase, problem });
      }
      if (retryS > 0 && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryS * 1000);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }
}

function classify(exc: unknown): [Phase, string, number | null] {
  if (exc instanceof ApiError) {
    switch (exc.status) {
      case 401:
        return ['unauthorized', 'Flex’s session token was refused; waiting for Flex to renew it.', null];
      case 403:
        return ['forbidden', 'This call’s recording belongs to another agent.', null];
      case 404:
        return ['unknown', 'The recording service has not seen this call yet.', null];
      case 503:
        return ['unavailable', 'The recording service is busy reaching Twilio; retrying.', exc.retryAfterS];
      default:
        return ['error', `The recording service refused: ${exc.message}`, null];
    }
  }
  if (exc instanceof NetworkError) {
    return ['offline', 'Cannot reach the recording service; retrying.', null];
  }
  return ['error', `Unexpected error: ${(exc as Error)?.message ?? exc}`, null];
}

/** The plain words for a refused pause or resume. */
export function failureMessage(action: Action, exc: unknown): ActionFailure {
  const verb = action === 'pause' ? 'pause' : 'resume';
  if (exc instanceof ApiError) {
    const retry = exc.retryAfterS;
    const messages: Record<number, string> = {
      401: `Couldn’t ${verb}: Flex’s session token was refused. Try again in a moment; reload Flex if it persists.`,
      403: `You can’t ${verb} this recording: only the agent on the call or a supervisor can.`,
      404: `There is no recording to ${verb} yet.`,
      409: `The recording can’t be ${action === 'pause' ? 'paused' : 'resumed'} right now: ${exc.message}`,
      503: `Twilio didn’t answer the recording service. Try again${retry ? ` in ${retry} s` : ''}.`,
    };
    return {
      action,
      status: exc.status,
      message: messages[exc.status] ?? `Couldn’t ${verb}: ${exc.message} (HTTP ${exc.status}).`,
      retryAfterS: retry,
    };
  }
  return {
    action,
    status: null,
    message: `Couldn’t ${verb}: the recording service can’t be reached. Check your connection and try again.`,
    retryAfterS: null,
  };
}

/** Every task's recording the plugin shows, shared by the panel and the Flex Actions. */
export class RecordingStore {
  private readonly watches = new Map<string, TaskWatch>();

  constructor(
    private readonly client: FlexrecClient,
    private readonly options: StoreOptions,
  ) {}

  /** The current snapshot of a task's recording. */
  get(taskSid: string): Snapshot {
    return this.watches.get(taskSid)?.snapshot ?? INITIAL;
  }

  /** Follow a task: `listener` gets every new snapshot until the returned function is called. */
  subscribe(taskSid: string, listener: Listener): () => void {
    const watch = this.watch(taskSid);
    watch.listeners.add(listener);
    watch.start();
    return () => {
      watch.listeners.delete(listener);
      if (watch.listeners.size === 0) {
        watch.stop();
        this.watches.delete(taskSid);
      }
    };
  }

  /** Retry every waiting watch now (e.g. Flex renewed the token). */
  nudgeAll(): void {
    this.watches.forEach((watch) => watch.nudge());
  }

  /** Pause; the snapshot shows the outcome, and a refusal is also thrown to the caller. */
  pause(taskSid: string): Promise<RecordingState> {
    return this.act(taskSid, 'pause');
  }

  /** Resume; as `pause`. */
  resume(taskSid: string): Promise<RecordingState> {
    return this.act(taskSid, 'resume');
  }

  /** Forget a shown failure (the agent dismissed it). */
  dismiss(taskSid: string): void {
    this.watches.get(taskSid)?.set({ failure: null });
  }

  private watch(taskSid: string): TaskWatch {
    let watch = this.watches.get(taskSid);
    if (!watch) {
      watch = new TaskWatch(taskSid, this.client, this.options);
      this.watches.set(taskSid, watch);
    }
    return watch;
  }

  private async act(taskSid: string, action: Action): Promise<RecordingState> {
    const watch = this.watches.get(taskSid);
    watch?.set({ busy: action, failure: null });
    try {
      const answer = action === 'pause' ? await this.client.pause(taskSid) : await this.client.resume(taskSid);
      watch?.accept(answer);
      watch?.set({ busy: null });
      return answer.state;
    } catch (exc) {
      watch?.set({ busy: null, failure: failureMessage(action, exc) });
      throw exc;
    }
  }
}
