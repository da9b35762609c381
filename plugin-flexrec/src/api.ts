/** flexrec's agent API, with the agent's own Flex token and nothing else. */

export type ServerState =
  | 'pending'
  | 'starting'
  | 'recording'
  | 'paused'
  | 'completed'
  | 'absent'
  | 'failed'
  | 'ended'
  | 'waiting'
  | 'not_recorded';

/** The JSON body of the agent API's state answers. */
export interface RecordingState {
  task_sid: string;
  state: ServerState | string;
  recording_sid: string | null;
  call_sid: string | null;
  leg: string | null;
  start_time_ms: number | null;
  detail: string | null;
  pause_pending: boolean;
  paused_by: string | null;
  paused_at: string | null;
  may_act: boolean;
}

/** A refusal by the service: the HTTP status, its error code and message, and Retry-After. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The service could not be reached at all (network, CORS, DNS, timeout). */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetworkError';
  }
}

/** What the client needs of `fetch` (injected: tests pass a fake, the browser window.fetch). */
export interface FetchLike {
  (url: string, init: RequestInit): Promise<ResponseLike>;
}
export interface ResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}

/** One reading of card data in the call, as the after-call notice gives it (never a digit). */
export interface CardDataReading {
  start_ms: number;
  end_ms: number;
  kinds: string[];
  /** The time of day it began (ISO 8601), when the recording's start is known. */
  at: string | null;
  /** "Card number spoken while recording, 00:20–00:26, silenced" */
  text: string;
}

/** The agent API's after-call answer: `pending` until the archive has checked the recording. */
export interface CardDataNotice {
  task_sid: string;
  recording_sid: string | null;
  status: 'off' | 'none' | 'pending' | 'failed' | 'checked' | string;
  card_data: CardDataReading[];
  advice?: string | null;
}

export type StateAnswer =
  | { changed: true; state: RecordingState; etag: string | null }
  | { changed: false; etag: string | null };

export interface FetchOptions {
  etag?: string | null;
  waitSeconds?: number;
  signal?: AbortSignal;
}

const TASK_SID = /^WT[0-9a-f]{32}$/;

export class FlexrecClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: () => string,
    private readonly fetchImpl: FetchLike,
  ) {}

  /** The task's state; with an ETag and a wait, a long poll for its next change. */
  async getState(taskSid: string, options: FetchOptions = {}): Promise<StateAnswer> {
    const headers: Record<string, string> = {};
    let query = '';
    if (options.etag) {
      headers['If-None-Match'] = options.etag;
      query = `?wait=${options.waitSeconds ?? 0}`;
    }
    const response = await this.send('GET', `${this.path(taskSid)}${query}`, headers, options.signal);
    if (response.status === 304) {
      return { changed: false, etag: response.headers.get('ETag') ?? options.etag ?? null };
    }
    return { changed: true, state: (await response.json()) as RecordingState, etag: response.headers.get('ETag') };
  }

  /** Pause the task's recording (idempotent); the new state. */
  async pause(taskSid: string): Promise<StateAnswer & { changed: true }> {
    return this.act(taskSid, 'pause');
  }

  /** Resume the task's recording (idempotent); the new state. */
  async resume(taskSid: string): Promise<StateAnswer & { changed: true }> {
    return this.act(taskSid, 'resume');
  }

  /** After the call: whether card data was spoken while recording, and silenced. */
  async getCardData(taskSid: string): Promise<CardDataNotice> {
    const response = await this.send('GET', `${this.taskPath(taskSid)}/card-data`, {});
    return (await response.json()) as CardDataNotice;
  }

  private async act(taskSid: string, action: 'pause' | 'resume'): Promise<StateAnswer & { changed: true }> {
    const response = await this.send('POST', `${this.path(taskSid)}/${action}`, {});
    return { changed: true, state: (await response.json()) as RecordingState, etag: response.headers.get('ETag') };
  }

  private path(taskSid: string): string {
    return `${this.taskPath(taskSid)}/recording`;
  }

  private taskPath(taskSid: string): string {
    if (!TASK_SID.test(taskSid)) {
      throw new ApiError(400, 'bad_task_sid', `not a task SID: ${taskSid}`);
    }
    return `${this.baseUrl}/api/agent/tasks/${taskSid}`;
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<ResponseLike> {
    let response: ResponseLike;
    try {
      response = await this.fetchImpl(url, {
        method,
        mode: 'cors',
        cache: 'no-store', // a 304 must reach us, not be answered from the browser's cache
        credentials: 'omit', // the token travels in the header, never as a cookie
        headers: { ...headers, Authorization: `Bearer ${this.token()}` },
        signal,
      });
    } catch (exc) {
      if ((exc as Error)?.name === 'AbortError') {
        throw exc;
      }
      throw new NetworkError(`cannot reach flexrec: ${(exc as Error)?.message ?? exc}`);
    }
    if (response.status >= 400) {
      let code = 'http_error';
      let message = `HTTP ${response.status}`;
      try {
        const body = (await response.json()) as { error?: string; message?: string };
        code = body.error ?? code;
        message = body.message ?? message;
      } catch {
        // not JSON (a proxy's page): keep the status alone
      }
      const retry = Number(response.headers.get('Retry-After'));
      throw new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    return response;
  }
}
