"""TaskRouter v1: the workspace, workers and reservations (tasks: `taskrouter_tasks`; queues,
workflows and activities: `taskrouter_config`), and the URLs and SIDs they share."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flexsim.api.formats import iso8601, meta_page
from flexsim.api.params import is_sid
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.errors import TwilioApiError, not_found
from flexsim.world import Reservation, Task, Worker, World

WORKSPACE = "/v1/Workspaces/{WorkspaceSid}"
_RESERVATION_STATUS = {"wrapup": "wrapping"}  # the world's name -> Twilio's enum


def derived_sid(prefix: str, *parts: str) -> str:
    """A stable SID for resources the world does not model (activities, task channels)."""
    return prefix + hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()


class TaskRouterUrls:
    """Absolute TaskRouter URLs for one workspace."""

    def __init__(self, host: str, workspace_sid: str) -> None:
        self.workspace = f"{host}/v1/Workspaces/{workspace_sid}"

    def task(self, sid: str) -> str:
        """A task's URL."""
        return f"{self.workspace}/Tasks/{sid}"

    def worker(self, sid: str) -> str:
        """A worker's URL."""
        return f"{self.workspace}/Workers/{sid}"


def workspace_view(world: World, urls: TaskRouterUrls, created: float) -> dict[str, Any]:
    """The Workspace resource."""
    ws = world.workspace_sid
    offline = derived_sid("WA", ws, "Offline")
    return {
        "account_sid": world.account_sid,
        "date_created": iso8601(created),
        "date_updated": iso8601(created),
        "default_activity_name": "Offline",
        "default_activity_sid": offline,
        "event_callback_url": world.event_callback_url,
        "events_filter": world.events_filter,
        "friendly_name": world.workspace_name,
        "multi_task_enabled": True,
        "sid": ws,
        "timeout_activity_name": "Offline",
        "timeout_activity_sid": offline,
        "prioritize_queue_order": "FIFO",
        "url": urls.workspace,
        "links": {
            name: f"{urls.workspace}/{path}"
            for name, path in (
                ("activities", "Activities"),
                ("tasks", "Tasks"),
                ("task_queues", "TaskQueues"),
                ("workers", "Workers"),
                ("workflows", "Workflows"),
                ("task_channels", "TaskChannels"),
                ("events", "Events"),
                ("statistics", "Statistics"),
            )
        },
    }


def worker_view(
    world: World, worker: Worker, urls: TaskRouterUrls, *, listed: bool = False
) -> dict[str, Any]:
    """A Worker resource; `attributes` is a JSON string, null in lists (the spec's
    `taskrouter.v1.workspace.worker.attributes`: "only be displayed in FETCH action")."""
    url = urls.worker(worker.sid)
    return {
        "account_sid": world.account_sid,
        "activity_name": worker.activity_name,
        "activity_sid": worker.activity_sid or derived_sid("WA", world.workspace_sid, "Available"),
        "attributes": None if listed else json.dumps(worker.attributes),
        "available": worker.available,
        "date_created": iso8601(worker.date_created),
        "date_status_changed": iso8601(worker.date_updated),
        "date_updated": iso8601(worker.date_updated),
        "friendly_name": worker.friendly_name,
        "sid": worker.sid,
        "workspace_sid": world.workspace_sid,
        "url": url,
        "links": {
            "activity": f"{urls.workspace}/Activities/{worker.activity_sid}",
            "channels": f"{url}/Channels",
            "reservations": f"{url}/Reservations",
            "statistics": f"{url}/Statistics",
            "worker_channels": f"{url}/Channels",
            "workspace": urls.workspace,
        },
    }


def reservation_view(
    world: World, reservation: Reservation, urls: TaskRouterUrls, url: str
) -> dict[str, Any]:
    """A Reservation resource (the same shape under a task or a worker)."""
    worker = world.workers.get(reservation.worker_sid)
    return {
        "account_sid": world.account_sid,
        "date_created": iso8601(reservation.date_created),
        "date_updated": iso8601(reservation.date_updated),
        "reservation_status": _RESERVATION_STATUS.get(reservation.status, reservation.status),
        "sid": reservation.sid,
        "task_sid": reservation.task_sid,
        "worker_name": worker.friendly_name if worker else None,
        "worker_sid": reservation.worker_sid,
        "workspace_sid": world.workspace_sid,
        "url": url,
        "links": {
            "task": urls.task(reservation.task_sid),
            "worker": urls.worker(reservation.worker_sid),
            "workspace": urls.workspace,
        },
    }


# -- operations ---------------------------------------------------------------------------------
def urls_of(ctx: ApiContext) -> TaskRouterUrls:
    """The workspace's TaskRouter URLs on this app's hosts."""
    return TaskRouterUrls(ctx.hosts.taskrouter, ctx.world.workspace_sid)


def find_task(ctx: ApiContext, req: ApiRequest) -> Task:
    """The task named by the path (`TaskSid` or `Sid`), or 404."""
    sid = req.path_params.get("TaskSid") or req.path_params.get("Sid", "")
    task = ctx.world.tasks.get(sid) if is_sid(sid, "WT") else None
    if task is None:
        raise not_found(req.path)
    return task


def _worker(ctx: ApiContext, req: ApiRequest, name: str) -> Worker:
    sid = req.path_params[name]
    worker = ctx.world.workers.get(sid) if is_sid(sid, "WK") else None
    if worker is None:
        raise not_found(req.path)
    return worker


def list_workspaces(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Workspaces: the account's workspaces, filtered by exact `FriendlyName`
    (spec: ListWorkspace, parameter FriendlyName)."""
    q = req.query
    name = q.get("FriendlyName")
    page = q.page()
    world = ctx.world
    found = [world] if name is None or name == world.workspace_name else []
    chunk, more = page.slice(found)
    body = meta_page(
        "workspaces",
        [workspace_view(w, urls_of(ctx), ctx.started_at) for w in chunk],
        f"{ctx.hosts.taskrouter}/v1/Workspaces",
        q.filters(["FriendlyName"]),
        page,
        more,
    )
    return ApiResult(body=body)


def fetch_workspace(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Workspaces/{WS}."""
    if req.path_params["Sid"] != ctx.world.workspace_sid:
        raise not_found(req.path)
    return ApiResult(body=workspace_view(ctx.world, urls_of(ctx), ctx.started_at))


def update_workspace(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST /v1/Workspaces/{WS}: EventCallbackUrl, EventsFilter, FriendlyName."""
    if req.path_params["Sid"] != ctx.world.workspace_sid:
        raise not_found(req.path)
    form = req.form
    world = ctx.world
    form.boolean("MultiTaskEnabled")
    form.enum("PrioritizeQueueOrder", {"FIFO", "LIFO"})
    if "EventCallbackUrl" in form:
        world.event_callback_url = form.url("EventCallbackUrl")
    if "EventsFilter" in form:
        world.events_filter = form.get("EventsFilter") or None
    name = form.get("FriendlyName")
    if name:
        world.workspace_name = name
    return ApiResult(body=workspace_view(world, urls_of(ctx), ctx.started_at))


def list_workers(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workers: filtered by Available, ActivityName, ActivitySid, FriendlyName."""
    q = req.query
    available = q.boolean("Available")
    activity_name, activity_sid = q.get("ActivityName"), q.sid("ActivitySid", "WA")
    name = q.get("FriendlyName")
    page = q.page()
    world = ctx.world
    workers = [
        w
        for w in world.workers.values()
        if (available is None or w.available == available)
        and (activity_name is None or w.activity_name == activity_name)
        and (activity_sid is None or w.activity_sid == activity_sid)
        and (name is None or w.friendly_name == name)
    ]
    chunk, more = page.slice(workers)
    urls = urls_of(ctx)
    body = meta_page(
        "workers",
        [worker_view(world, w, urls, listed=True) for w in chunk],
        f"{urls.workspace}/Workers",
        q.filters(["Available", "ActivityName", "ActivitySid", "FriendlyName"]),
        page,
        more,
    )
    return ApiResult(body=body)


def fetch_worker(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workers/{WK}."""
    worker = _worker(ctx, req, "Sid")
    return ApiResult(body=worker_view(ctx.world, worker, urls_of(ctx)))


def update_worker(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Workers/{WK} (OAI `UpdateWorker`): ActivitySid (one of the workspace's activities:
    `worker.activity.update`), Attributes (a JSON object: `worker.attributes.update`),
    FriendlyName."""
    worker = _worker(ctx, req, "Sid")
    form, world = req.form, ctx.world
    attributes = form.json_object("Attributes")
    activity = form.sid("ActivitySid", "WA")
    name = None
    if activity is not None:
        name = next((n for n in world.activities if world.activity_sid(n) == activity), None)
        if name is None:
            raise TwilioApiError(400, 20001, f"Activity {activity} not found")
    friendly = form.get("FriendlyName")
    if friendly:
        worker.friendly_name = friendly
    if attributes is not None:
        world.update_worker_attributes(worker, attributes)
    if name is not None:
        world.set_worker_activity(worker, name)
    return ApiResult(body=worker_view(world, worker, urls_of(ctx)))


_RESERVATION_FILTER = frozenset(
    {"pending", "accepted", "rejected", "timeout", "canceled", "rescinded", "wrapping", "completed"}
)


def _reservation_page(
    ctx: ApiContext, req: ApiRequest, reservations: list[Reservation], url: str, by_task: bool
) -> ApiResult:
    q = req.query
    status = q.enum("ReservationStatus", _RESERVATION_FILTER)
    worker_sid = q.sid("WorkerSid", "WK") if by_task else None
    page = q.page()
    world = ctx.world
    chosen = [
        r
        for r in reservations
        if (status is None or _RESERVATION_STATUS.get(r.status, r.status) == status)
        and (worker_sid is None or r.worker_sid == worker_sid)
    ]
    chunk, more = page.slice(chosen)
    urls = urls_of(ctx)
    body = meta_page(
        "reservations",
        [reservation_view(world, r, urls, f"{url}/{r.sid}") for r in chunk],
        url,
        q.filters(["ReservationStatus", "WorkerSid"] if by_task else ["ReservationStatus"]),
        page,
        more,
    )
    return ApiResult(body=body)


def list_task_reservations(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Tasks/{WT}/Reservations."""
    task = find_task(ctx, req)
    reservations = [ctx.world.reservations[sid] for sid in task.reservations]
    url = f"{urls_of(ctx).task(task.sid)}/Reservations"
    return _reservation_page(ctx, req, reservations, url, by_task=True)


def fetch_task_reservation(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Tasks/{WT}/Reservations/{WR}."""
    task = find_task(ctx, req)
    sid = req.path_params["Sid"]
    if sid not in task.reservations:
        raise not_found(req.path)
    urls = urls_of(ctx)
    url = f"{urls.task(task.sid)}/Reservations/{sid}"
    return ApiResult(body=reservation_view(ctx.world, ctx.world.reservations[sid], urls, url))


def list_worker_reservations(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workers/{WK}/Reservations."""
    worker = _worker(ctx, req, "WorkerSid")
    reservations = [r for r in ctx.world.reservations.values() if r.worker_sid == worker.sid]
    url = f"{urls_of(ctx).worker(worker.sid)}/Reservations"
    return _reservation_page(ctx, req, reservations, url, by_task=False)


def fetch_worker_reservation(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workers/{WK}/Reservations/{WR}."""
    worker = _worker(ctx, req, "WorkerSid")
    reservation = ctx.world.reservations.get(req.path_params["Sid"])
    if reservation is None or reservation.worker_sid != worker.sid:
        raise not_found(req.path)
    urls = urls_of(ctx)
    url = f"{urls.worker(worker.sid)}/Reservations/{reservation.sid}"
    return ApiResult(body=reservation_view(ctx.world, reservation, urls, url))


OPERATIONS = [
    Operation("GET", "/v1/Workspaces", list_workspaces, "taskrouter_v1"),
    Operation("GET", "/v1/Workspaces/{Sid}", fetch_workspace, "taskrouter_v1"),
    Operation("POST", "/v1/Workspaces/{Sid}", update_workspace, "taskrouter_v1"),
    Operation(
        "GET",
        f"{WORKSPACE}/Tasks/{{TaskSid}}/Reservations",
        list_task_reservations,
        "taskrouter_v1",
    ),
    Operation(
        "GET",
        f"{WORKSPACE}/Tasks/{{TaskSid}}/Reservations/{{Sid}}",
        fetch_task_reservation,
        "taskrouter_v1",
    ),
    Operation("GET", f"{WORKSPACE}/Workers", list_workers, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Workers/{{Sid}}", fetch_worker, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/Workers/{{Sid}}", update_worker, "taskrouter_v1"),
    Operation(
        "GET",
        f"{WORKSPACE}/Workers/{{WorkerSid}}/Reservations",
        list_worker_reservations,
        "taskrouter_v1",
    ),
    Operation(
        "GET",
        f"{WORKSPACE}/Workers/{{WorkerSid}}/Reservations/{{Sid}}",
        fetch_worker_reservation,
        "taskrouter_v1",
    ),
]
