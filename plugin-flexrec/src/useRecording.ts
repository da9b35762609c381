import { useEffect, useState } from 'react';

import { INITIAL, RecordingStore, Snapshot } from './store';

/** The task's recording snapshot, following the server while the component is mounted. */
export function useRecording(store: RecordingStore, taskSid: string | undefined): Snapshot {
  const [snapshot, setSnapshot] = useState<Snapshot>(() => (taskSid ? store.get(taskSid) : INITIAL));
  useEffect(() => {
    if (!taskSid) {
      return undefined;
    }
    setSnapshot(store.get(taskSid));
    return store.subscribe(taskSid, setSnapshot);
  }, [store, taskSid]);
  return snapshot;
}
