"""What a running simulator shows, as snapshots safe to take from any thread.

`SimRunner` reads its world through these: the clock, the agents and their tokens, recordings,
reservations, call statuses, counters, the webhook log and the ground truth (who said what
when). Each takes the world's lock and hands out plain values (`flexsim.views`), never the
world's live objects.
"""

from __future__ import annotations

from typing import Any

from flexsim.arrange import recording_info
from flexsim.audio.word_truth import word_truth
from flexsim.engine import Engine
from flexsim.tokens import identity_of, issue_token
from flexsim.truth import all_truth
from flexsim.views import RecordingInfo, ReservationInfo, SimStats
from flexsim.webhooks import WebhookDispatcher
from flexsim.world import Recording, World


class SimReadSide:
    """The public read side of a simulator over its world, engine and webhook dispatcher."""

    world: World
    engine: Engine
    dispatcher: WebhookDispatcher

    def truth(self) -> list[dict[str, Any]]:
        """Ground truth of every interaction so far."""
        return all_truth(self.world, list(self.engine.records))

    def now_ms(self) -> int:
        """The simulated clock now, in epoch ms (what the truth's timestamps are in)."""
        return round(self.world.clock.now() * 1000)

    @property
    def workspace_sid(self) -> str:
        """The simulated TaskRouter workspace."""
        return self.world.workspace_sid

    def agent_sids(self) -> list[str]:
        """The simulated agents' worker SIDs."""
        with self.world.lock:
            return list(self.world.workers)

    def agent_identity(self, worker_sid: str) -> str:
        """The Flex identity an agent's token carries (its `contact_uri` without `client:`)."""
        with self.world.lock:
            worker = self.world.workers[worker_sid]
            return identity_of(worker.attributes, worker.friendly_name)

    def agent_token(
        self, worker_sid: str, ttl_s: float = 3600.0, roles: tuple[str, ...] = ("agent",)
    ) -> str:
        """A Flex token for an agent, as the Flex UI holds one; validates at this simulator's IAM.

        Expiry counts simulated time. Raises `tokens.UnknownWorker` for a worker it lacks.
        """
        return issue_token(self.world, worker_sid, ttl_s=ttl_s, roles=roles)

    def stats(self) -> SimStats:
        """Interactions and webhook deliveries so far."""
        snap = self.engine.snapshot()
        counts = self.dispatcher.stats
        return SimStats(
            generated=int(snap["generated"]),
            active=int(snap["active"]),
            finished=int(snap["finished"]),
            webhooks_sent=counts.sent,
            webhooks_failed=counts.failed,
            webhooks_pending=self.dispatcher.pending,
        )

    def recordings(self) -> list[RecordingInfo]:
        """Every call recording of the simulated account (deleted ones too), oldest first;
        Flex's own conference recordings are not call recordings and are left out."""
        with self.world.lock:
            return [
                self._recording_info(r)
                for r in self.world.recordings.values()
                if r.conference_sid is None
            ]

    def reservations(self) -> list[ReservationInfo]:
        """Every reservation so far, oldest first (e.g. to find the task an agent accepted)."""
        with self.world.lock:
            return [
                ReservationInfo(r.sid, r.task_sid, r.worker_sid, r.status)
                for r in self.world.reservations.values()
            ]

    def call_status(self, call_sid: str) -> str | None:
        """A call leg's status now (queued, ringing, in-progress, completed...; None: unknown)."""
        with self.world.lock:
            call = self.world.calls.get(call_sid)
            return call.status if call is not None else None

    def recording(self, recording_sid: str) -> RecordingInfo | None:
        """One call recording (None when the account has no such recording)."""
        with self.world.lock:
            found = self.world.recordings.get(recording_sid)
            return self._recording_info(found) if found is not None else None

    def _recording_info(self, recording: Recording) -> RecordingInfo:
        return recording_info(self.world, recording)

    def speech_truth(self, recording_sid: str) -> dict[str, list[tuple[int, int]]] | None:
        """Who really spoke when in a recording's media: `{"channel1": [(start_ms, end_ms)...],
        "channel2": [...]}` (None for a recording the account does not have)."""
        with self.world.lock:
            recording = self.world.recordings.get(recording_sid)
        if recording is None:
            return None
        from flexsim.audio import truth_segments  # numpy: loaded only when asked

        return truth_segments(self.world, recording)

    def word_truth(self, recording_sid: str) -> dict[str, Any] | None:
        """What a recording's media says, word by word and number by number, in media ms
        (flexsim.audio.word_truth.word_truth); None for a recording the account does not have."""
        return word_truth(self.world, recording_sid)

    def webhook_log(self) -> list[dict[str, Any]]:
        """The latest deliveries, oldest first: `kind`, `name`, `url`, `outcome` (sent or
        failed), `status`, `attempts`, `at` (wall-clock end), `elapsed_ms`, `first_try_ms`
        (simulated epoch ms of the first try), `subject_sid` (a recording status callback's
        recording) and more."""
        return self.dispatcher.log_snapshot()
