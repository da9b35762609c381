import { useEffect, useState } from 'react';

import { ApiError, CardDataNotice, FlexrecClient } from './api';

/** How the after-call check is followed: every `intervalS` while the service says `pending`,
 * for at most `maxWaitS` (a long call takes the archive a while to transcribe). */
export interface AfterCallOptions {
  intervalS: number;
  maxWaitS: number;
}

export const AFTER_CALL: AfterCallOptions = { intervalS: 5, maxWaitS: 30 * 60 };

/** Statuses after which nothing more will come for the task. */
const FINAL = new Set(['checked', 'off', 'none', 'failed']);

/**
 * Asks the service whether card data was spoken while the task's call was recorded, until it
 * knows (or the task is gone: 403/404, or time runs out). Calls `onNotice` with each answer;
 * returns a function that stops asking.
 */
export function followCardData(
  client: FlexrecClient,
  taskSid: string,
  onNotice: (notice: CardDataNotice) => void,
  options: AfterCallOptions = AFTER_CALL,
): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = Date.now() + options.maxWaitS * 1000;
  const again = (): void => {
    if (!stopped && Date.now() < deadline) {
      timer = setTimeout(ask, options.intervalS * 1000);
    }
  };
  const ask = (): void => {
    client.getCardData(taskSid).then(
      (notice) => {
        if (stopped) {
          return;
        }
        onNotice(notice);
        if (!FINAL.has(notice.status)) {
          again();
        }
      },
      (exc: unknown) => {
        // Not this agent's task or not known: nothing to show, and asking again will not help.
        if (exc instanceof ApiError && (exc.status === 403 || exc.status === 404 || exc.status === 400)) {
          return;
        }
        again(); // a token being renewed, the network, a restart: try again
      },
    );
  };
  ask();
  return () => {
    stopped = true;
    if (timer !== null) {
      clearTimeout(timer);
    }
  };
}

/** The task's after-call card-data notice, followed once `ended` (null until the first answer). */
export function useCardData(
  client: FlexrecClient | undefined,
  taskSid: string | undefined,
  ended: boolean,
  options: AfterCallOptions = AFTER_CALL,
): CardDataNotice | null {
  const [notice, setNotice] = useState<CardDataNotice | null>(null);
  useEffect(() => {
    setNotice(null);
    if (!client || !taskSid || !ended) {
      return undefined;
    }
    return followCardData(client, taskSid, setNotice, options);
  }, [client, taskSid, ended, options]);
  return notice;
}
