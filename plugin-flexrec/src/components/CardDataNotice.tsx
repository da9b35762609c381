import React from 'react';

import type { FlexrecClient } from '../api';
import { AFTER_CALL, AfterCallOptions, useCardData } from '../afterCall';
import { clock } from '../describe';

export interface CardDataNoticeProps {
  client: FlexrecClient;
  taskSid: string;
  /** The call is over (the reservation wrapping or completed, or the recording ended). */
  ended: boolean;
  options?: AfterCallOptions;
}

const styles = {
  notice: { marginTop: 4, padding: '8px 10px', borderRadius: 4, borderLeft: '4px solid #f47c22', background: 'rgba(244,124,34,0.14)', fontSize: 13, display: 'flex', flexDirection: 'column', gap: 4 } as React.CSSProperties,
  list: { margin: 0, paddingLeft: 18 } as React.CSSProperties,
  muted: { fontSize: 12, opacity: 0.8 } as React.CSSProperties,
};

/**
 * After the call: whether the customer or the agent read card data while the call was being
 * recorded, when, and that flexrec silenced it in the archive. The service never sends a
 * digit; this shows its sentence and the time of day.
 */
export function CardDataNotice({ client, taskSid, ended, options = AFTER_CALL }: CardDataNoticeProps): JSX.Element | null {
  const notice = useCardData(client, taskSid, ended, options);
  if (!notice) {
    return null;
  }
  if (notice.status === 'pending') {
    return (
      <div data-testid="flexrec-card-check" data-status="pending" style={styles.muted}>
        Checking the recording for card numbers…
      </div>
    );
  }
  if (notice.status !== 'checked' || notice.card_data.length === 0) {
    return null;
  }
  return (
    <div role="alert" data-testid="flexrec-card-data" style={styles.notice}>
      <strong>Card details were read out while this call was recorded</strong>
      <ul style={styles.list}>
        {notice.card_data.map((reading) => {
          const at = clock(reading.at);
          return (
            <li key={`${reading.start_ms}-${reading.end_ms}`} data-testid="flexrec-card-reading">
              {reading.text}
              {at ? ` (at ${at})` : ''}.
            </li>
          );
        })}
      </ul>
      <span style={styles.muted}>
        flexrec removed them from the archived recording.{notice.advice ? ` ${notice.advice}` : ''}
      </span>
    </div>
  );
}
