"""The demo's agents: on some calls they pause the recording (a card payment) and resume it,
through the service's agent API with their own Flex token, as the plugin would."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from flexsim import Conversation, SimRunner

ENDED_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

# Scenarios in which an agent takes a card payment (pause, then resume) on some calls.
PAUSABLE = frozenset({"basic", "hold", "browser_closed", "third_party"})


@dataclass
class AgentDriver:
    """Plays agents taking card payments: pause, then resume, through the agent API."""

    sim: SimRunner
    service_url: str
    share: float
    seed: int
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4))
    requested: int = 0
    answered: dict[int, int] = field(default_factory=dict)
    # How each pause request ended: the last HTTP status, or "unreachable" (a pause that was
    # not applied says here whether the service refused it, never answered, or was too late).
    pause_outcomes: dict[str, int] = field(default_factory=dict)
    # When the agent asked, per task: (action, simulated epoch s), in order (the soak tells a
    # pause that lasted to the hang-up from one the agent ended while the call went on).
    asked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self) -> None:
        """Listen for conversations starting in the simulator."""
        self.sim.on_conversation(self._started)

    def _chosen(self, task_sid: str) -> bool:
        # A stable choice per task, independent of arrival order.
        digest = int(task_sid[-8:], 16) ^ self.seed
        return (digest % 1000) / 1000 < self.share

    def _started(self, conversation: Conversation) -> None:
        task_sid, worker_sid = conversation.task_sid, conversation.worker_sid
        call_sid = conversation.interaction_id
        if conversation.card_pause is not None:
            # A card payment: the agent pauses when the simulator's plan says (in time, late,
            # or never: the calls whose card numbers flexrec must find and silence).
            if conversation.pause_in_s is not None and conversation.resume_in_s is not None:
                pause_in, resume_in = conversation.pause_in_s, conversation.resume_in_s
                self.sim.call_later(
                    pause_in, lambda: self._submit(task_sid, worker_sid, "pause", call_sid)
                )
                self.sim.call_later(
                    resume_in, lambda: self._submit(task_sid, worker_sid, "resume", call_sid)
                )
            return
        if conversation.scenario not in PAUSABLE or not self._chosen(conversation.task_sid):
            return
        # Runs on the simulator's loop: schedule in simulated time, do HTTP on the pool.
        self.sim.call_later(25.0, lambda: self._submit(task_sid, worker_sid, "pause", call_sid))
        self.sim.call_later(55.0, lambda: self._submit(task_sid, worker_sid, "resume", call_sid))

    def _submit(self, task_sid: str, worker_sid: str, action: str, call_sid: str) -> None:
        with self.lock:
            self.asked.setdefault(task_sid, []).append((action, self.sim.world.clock.now()))
        self.pool.submit(self._act, task_sid, worker_sid, action, call_sid)

    def _call_over(self, call_sid: str) -> bool:
        return self.sim.call_status(call_sid) in ENDED_CALL_STATUSES

    def _act(self, task_sid: str, worker_sid: str, action: str, call_sid: str) -> None:
        if self._call_over(call_sid):
            # The call ended before the plan's moment (a call shorter than 25 s): an agent does
            # not press pause after hanging up (it did, and 403 said "not your task").
            return
        token = self.sim.agent_token(worker_sid)
        url = f"{self.service_url}/api/agent/tasks/{task_sid}/recording/{action}"
        with self.lock:
            self.requested += action == "pause"
        outcome = "unreachable"
        for _ in range(8):  # the service may be restarting
            try:
                response = httpx.post(
                    url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
                )
            except httpx.HTTPError:
                time.sleep(1.0)
                continue
            outcome = str(response.status_code)
            with self.lock:
                self.answered[response.status_code] = self.answered.get(response.status_code, 0) + 1
            # 409: the recording has not started yet (a fault delayed it); the agent tries again,
            # unless the call is over meanwhile (the service says so with a 409 too).
            if response.status_code < 500 and response.status_code != 409:
                break
            if self._call_over(call_sid):
                break
            time.sleep(0.5)
        if action == "pause":
            with self.lock:
                self.pause_outcomes[outcome] = self.pause_outcomes.get(outcome, 0) + 1

    def close(self) -> None:
        """Wait for requests in flight."""
        self.pool.shutdown(wait=True)
