import { ApiError, FlexrecClient, NetworkError, ResponseLike } from '../src/api';
import { TASK } from './fakes';

function answer(status: number, body: unknown, headers: Record<string, string> = {}): ResponseLike {
  return {
    status,
    headers: { get: (name: string) => headers[name] ?? null },
    json: async () => {
      if (body === undefined) {
        throw new SyntaxError('Unexpected token <');
      }
      return body;
    },
  };
}

describe('the agent API client', () => {
  it('keeps the status of a refusal whose body is not JSON (a proxy’s page)', async () => {
    const client = new FlexrecClient('https://r.example', () => 't', async () => answer(502, undefined));
    await expect(client.pause(TASK)).rejects.toMatchObject({ status: 502, code: 'http_error', message: 'HTTP 502' });
  });

  it('reads Retry-After from a 503', async () => {
    const client = new FlexrecClient('https://r.example', () => 't', async () =>
      answer(503, { error: 'twilio_unavailable', message: 'Twilio did not answer; try again' }, { 'Retry-After': '5' }),
    );
    const refusal = (await client.resume(TASK).catch((e: unknown) => e)) as ApiError;
    expect(refusal).toBeInstanceOf(ApiError);
    expect([refusal.status, refusal.code, refusal.retryAfterS]).toEqual([503, 'twilio_unavailable', 5]);
  });

  it('tells a network failure from a refusal, and lets an abort through as is', async () => {
    const offline = new FlexrecClient('https://r.example', () => 't', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(offline.getState(TASK)).rejects.toBeInstanceOf(NetworkError);
    const aborted = new FlexrecClient('https://r.example', () => 't', async () => {
      const error = new Error('aborted');
      error.name = 'AbortError';
      throw error;
    });
    await expect(aborted.getState(TASK)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('posts pause and resume with the bearer token and no cookies', async () => {
    const seen: Array<[string, RequestInit]> = [];
    const client = new FlexrecClient('https://r.example', () => 'tok', async (url, init) => {
      seen.push([url, init]);
      return answer(200, { task_sid: TASK, state: 'paused' }, { ETag: '"e"' });
    });
    const result = await client.pause(TASK);
    expect(result).toMatchObject({ changed: true, etag: '"e"', state: { state: 'paused' } });
    expect(seen[0][0]).toBe(`https://r.example/api/agent/tasks/${TASK}/recording/pause`);
    expect(seen[0][1]).toMatchObject({ method: 'POST', credentials: 'omit', headers: { Authorization: 'Bearer tok' } });
  });
});
