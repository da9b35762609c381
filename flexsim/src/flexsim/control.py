"""The simulator's own `/_sim` routes: ground truth, stats, webhook log, agent tokens, faults,
arranging a world by hand (`/_sim/arrange/...`, flexsim.arrange) and jumping time ahead.

Handlers are `async` on purpose: they run on the event loop that drives the engine, so they
never touch engine state from another thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from flexsim.arrange import Arrange, ArrangeError
from flexsim.audio.word_truth import word_truth
from flexsim.engine import Engine, scenario_names
from flexsim.faults import FaultPlan, FaultPlanError
from flexsim.request_log import RequestLog
from flexsim.truth import InteractionRecord, all_truth, interaction_truth
from flexsim.webhooks import WebhookDispatcher
from flexsim.world import TERMINAL_CALL_STATUSES, World


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(400, "body must be JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    return body


def _find_record(engine: Engine, call_sid: str) -> InteractionRecord | None:
    record = engine.interactions.get(call_sid)
    if record is not None:
        return record
    for candidate in engine.records:
        if call_sid in candidate.call_sids or call_sid in candidate.task_sids:
            return candidate
    return None


# The arrange API over HTTP: each path calls the Arrange method named, with the path's
# parameters and the JSON body as its arguments.
_ARRANGE_ROUTES = (
    ("/arrange/workers", "worker"),
    ("/arrange/calls", "call"),
    ("/arrange/calls/{call_sid}/status", "set_call_status"),
    ("/arrange/callees", "callee"),
    ("/arrange/tasks", "task"),
    ("/arrange/tasks/{task_sid}/status", "set_task_status"),
    ("/arrange/tasks/{task_sid}/attributes", "update_task_attributes"),
    ("/arrange/list-tasks-shape", "list_tasks_shape"),
    ("/arrange/conferences", "conference"),
    ("/arrange/recordings", "recording"),
    ("/arrange/recordings/completed", "completed_recording"),
    ("/arrange/recordings/{recording_sid}/end", "end_recording"),
    ("/arrange/recordings/{recording_sid}/delete", "delete_recording"),
)


def create_control_router(
    world: World,
    engine: Engine,
    dispatcher: WebhookDispatcher | None = None,
    faults: FaultPlan | None = None,
    request_log: RequestLog | None = None,
) -> APIRouter:
    """Build the `/_sim` router over one simulator's world, engine, dispatcher, fault plan and
    REST request log."""
    router = APIRouter(prefix="/_sim", tags=["simulator"])

    @router.get("/truth")
    async def get_all_truth() -> dict[str, Any]:
        interactions = all_truth(world, list(engine.records))
        return {"count": len(interactions), "interactions": interactions}

    @router.get("/truth/{sid}")
    async def get_truth(sid: str) -> dict[str, Any]:
        record = _find_record(engine, sid)
        if record is None:
            raise HTTPException(404, f"no interaction with call or task {sid}")
        return interaction_truth(world, record)

    @router.get("/recordings/{sid}/words")
    async def get_recording_words(sid: str) -> dict[str, Any]:
        found = word_truth(world, sid)
        if found is None:
            raise HTTPException(404, f"no recording {sid}")
        return found

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        with world.lock:
            calls = list(world.calls.values())
            active_calls = sum(1 for c in calls if c.status not in TERMINAL_CALL_STATUSES)
            recordings = list(world.recordings.values())
            stats: dict[str, Any] = {
                "calls": {"active": active_calls, "finished": len(calls) - active_calls},
                "tasks": {
                    "total": len(world.tasks),
                    "active": sum(
                        1
                        for t in world.tasks.values()
                        if t.assignment_status not in ("completed", "canceled")
                    ),
                },
                "recordings": {
                    "total": len(recordings),
                    "in_progress": sum(
                        1 for r in recordings if r.status in ("in-progress", "paused")
                    ),
                },
            }
        stats["engine"] = engine.snapshot()
        stats["idle"] = engine.idle()
        if dispatcher is not None:
            d = dispatcher.stats
            stats["webhooks"] = {
                "queued": d.queued,
                "sent": d.sent,
                "failed": d.failed,
                "retried": d.retried,
                "timed_out": d.timed_out,
                "dropped": d.dropped,
                "duplicated": d.duplicated,
                "reordered": d.reordered,
                "pending": dispatcher.pending,
                "by_kind": dict(d.by_kind),
            }
        return stats

    @router.get("/webhooks")
    async def get_webhooks(limit: int = Query(100, ge=1, le=5000)) -> dict[str, Any]:
        entries = list(dispatcher.log)[-limit:] if dispatcher is not None else []
        return {"count": len(entries), "deliveries": entries}

    @router.get("/agents")
    async def get_agents() -> dict[str, Any]:
        with world.lock:
            agents = [
                {
                    "sid": w.sid,
                    "name": w.friendly_name,
                    "available": w.available,
                    "activity_name": w.activity_name,
                    "attributes": w.attributes,
                    **engine.worker_state.get(w.sid, {}),
                }
                for w in world.workers.values()
            ]
        return {"count": len(agents), "agents": agents}

    @router.post("/agents/{worker_sid}/token")
    async def post_token(worker_sid: str, request: Request) -> dict[str, Any]:
        from flexsim.tokens import UnknownWorker, issue_token

        body = await _json_body(request)
        try:
            ttl_s = float(body.get("ttl_s", 3600))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, "ttl_s must be a number") from exc
        roles = body.get("roles", ["agent"])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise HTTPException(400, "roles must be a list of strings")
        try:
            token = issue_token(world, worker_sid, ttl_s, roles)
        except UnknownWorker as exc:
            raise HTTPException(404, f"no worker {worker_sid}") from exc
        return {"token": token, "worker_sid": worker_sid, "ttl_s": ttl_s, "roles": roles}

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        if faults is None:
            return {}
        return {**faults.describe(), "scripted": faults.scripted()}

    @router.get("/requests")
    async def get_requests(
        method: str | None = None,
        path: str = "*",
        limit: int = Query(1000, ge=1, le=10_000),
    ) -> dict[str, Any]:
        found = request_log.entries(method, path)[-limit:] if request_log is not None else []
        return {"count": len(found), "requests": [e.as_dict() for e in found]}

    @router.post("/faults")
    async def post_faults(request: Request) -> dict[str, Any]:
        if faults is None:
            raise HTTPException(409, "this simulator was started without a fault plan")
        body = await _json_body(request)
        spec = body.get("spec")
        if spec is None:
            spec = ",".join(f"{k}={v}" for k, v in body.items())
        try:
            plan = FaultPlan.parse(str(spec))
        except FaultPlanError as exc:
            raise HTTPException(400, str(exc)) from exc
        faults.replace_with(plan)
        return faults.describe()

    arrange = Arrange(world, faults)

    async def arranged(request: Request, method: str, **path: Any) -> dict[str, Any]:
        body = await _json_body(request)
        if "from" in body:
            body["from_"] = body.pop("from")
        try:
            result = getattr(arrange, method)(**path, **body)
        except TypeError as exc:  # an unknown or missing field
            raise HTTPException(400, f"{method}: {exc}") from exc
        except ArrangeError as exc:
            raise HTTPException(400, str(exc)) from exc
        if result is None:
            return {}
        if isinstance(result, str):
            return {"sid": result}
        shown = dataclasses.asdict(result)
        if "from_" in shown:
            shown["from"] = shown.pop("from_")
        return shown

    def arrange_route(method: str) -> Callable[[Request], Awaitable[dict[str, Any]]]:
        async def route(request: Request) -> dict[str, Any]:
            return await arranged(request, method, **request.path_params)

        route.__name__ = f"arrange_{method}"
        return route

    for path, method in _ARRANGE_ROUTES:
        router.add_api_route(path, arrange_route(method), methods=["POST"])

    @router.post("/arrange/sids")
    async def arrange_sids(request: Request) -> dict[str, Any]:
        sids = (await _json_body(request)).get("sids")
        if not isinstance(sids, list) or not all(isinstance(s, str) for s in sids):
            raise HTTPException(400, "sids: a list of SIDs")
        try:
            arrange.next_sids(*sids)
        except ArrangeError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"sids": sids}

    @router.post("/arrange/faults")
    async def arrange_fault(request: Request) -> dict[str, Any]:
        await arranged(request, "fault_next")
        return {"scripted": faults.scripted() if faults is not None else []}

    @router.post("/advance")
    async def advance(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 7 * 86400:
            raise HTTPException(400, "seconds: a number of simulated seconds, 0 to 604800")
        engine.advance(float(seconds))
        return {"now": world.clock.now()}

    @router.post("/interactions")
    async def post_interaction(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        scenario = str(body.get("scenario", "basic"))
        direction = body.get("direction")
        if scenario not in scenario_names():
            raise HTTPException(400, f"scenario must be one of {list(scenario_names())}")
        if direction not in (None, "inbound", "outbound"):
            raise HTTPException(400, "direction must be inbound or outbound")
        engine.start_interaction(scenario, direction)
        return {"started": scenario, "generated": engine.generated}

    return router
