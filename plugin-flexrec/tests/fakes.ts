import type { CardDataNotice, FetchLike, RecordingState, ResponseLike } from '../src/api';

export const TASK = 'WT' + 'a'.repeat(32);
export const OTHER_TASK = 'WT' + 'b'.repeat(32);

export function recordingState(change: Partial<RecordingState> = {}): RecordingState {
  return {
    task_sid: TASK,
    state: 'recording',
    recording_sid: 'RE' + '1'.repeat(32),
    call_sid: 'CA' + '2'.repeat(32),
    leg: 'customer',
    start_time_ms: Date.UTC(2026, 0, 5, 14, 0, 0),
    detail: null,
    pause_pending: false,
    paused_by: null,
    paused_at: null,
    may_act: true,
    ...change,
  };
}

export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  init: RequestInit;
}

export interface Refusal {
  status: number;
  error?: string;
  message?: string;
  retryAfter?: string;
}

function response(status: number, body: unknown, headers: Record<string, string> = {}): ResponseLike {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status,
    headers: { get: (name: string) => lower[name.toLowerCase()] ?? null },
    json: async () => {
      if (body === undefined) {
        throw new SyntaxError('no body');
      }
      return body;
    },
  };
}

/**
 * A behavioural stand-in for flexrec's agent API: ETags, the long poll (held until the state
 * changes or the request is aborted), per-token authorisation, and scripted refusals.
 */
export class FakeFlexrec {
  state: RecordingState = recordingState();
  version = 1;
  seen: Seen[] = [];
  /** Tokens the service accepts; any other is a 401. */
  valid = new Set(['tok-1']);
  /** Tokens whose worker does not hold the task (403). */
  foreign = new Set<string>();
  /** Refusals for the next requests whose method+action matches (e.g. 'POST pause'). */
  refusals: Array<{ match: string; refusal: Refusal }> = [];
  offline = false;
  /** The after-call answers, in order (the last one repeats); empty: 404. */
  cardData: CardDataNotice[] = [];
  private waiters: Array<() => void> = [];

  get etag(): string {
    return `"v${this.version}"`;
  }

  /** Change the server's state: a held long poll answers. */
  set(change: Partial<RecordingState>): void {
    this.state = { ...this.state, ...change };
    this.version += 1;
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }

  refuse(match: string, refusal: Refusal): void {
    this.refusals.push({ match, refusal });
  }

  gets(): Seen[] {
    return this.seen.filter((s) => s.method === 'GET');
  }

  readonly fetch: FetchLike = async (url: string, init: RequestInit) => {
    const headers = { ...(init.headers as Record<string, string>) };
    const method = init.method ?? 'GET';
    this.seen.push({ method, url, headers, init });
    if (this.offline) {
      throw new TypeError('Failed to fetch');
    }
    const action = url.endsWith('/pause') ? 'pause' : url.endsWith('/resume') ? 'resume' : 'state';
    const index = this.refusals.findIndex((r) => r.match === `${method} ${action}`);
    if (index >= 0) {
      const { refusal } = this.refusals.splice(index, 1)[0];
      const extra: Record<string, string> = refusal.retryAfter ? { 'Retry-After': refusal.retryAfter } : {};
      return response(refusal.status, { error: refusal.error ?? 'refused', message: refusal.message ?? 'refused' }, extra);
    }
    const token = (headers.Authorization ?? '').replace(/^Bearer /, '');
    if (!this.valid.has(token)) {
      return response(401, { error: 'invalid_token', message: 'the Flex token was rejected' });
    }
    if (this.foreign.has(token)) {
      return response(403, { error: 'forbidden', message: 'only the task’s assigned worker or a supervisor may do this' });
    }
    if (url.endsWith('/card-data')) {
      const notice = this.cardData.length > 1 ? this.cardData.shift() : this.cardData[0];
      return notice ? response(200, notice) : response(404, { error: 'not_found', message: 'unknown task' });
    }
    if (action === 'pause') {
      this.set({ state: 'paused', paused_by: 'alice', paused_at: '2026-01-05T14:03:00+00:00' });
    } else if (action === 'resume') {
      this.set({ state: 'recording', paused_by: null, paused_at: null });
    } else if (headers['If-None-Match'] === this.etag) {
      const wait = Number(new URL(url).searchParams.get('wait') ?? '0');
      if (wait > 0) {
        await new Promise<void>((resolve, reject) => {
          this.waiters.push(resolve);
          init.signal?.addEventListener('abort', () => {
            const error = new Error('aborted');
            error.name = 'AbortError';
            reject(error);
          });
        });
      }
      if (headers['If-None-Match'] === this.etag) {
        return response(304, undefined, { ETag: this.etag });
      }
    }
    return response(200, this.state, { ETag: this.etag });
  };
}
