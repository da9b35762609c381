"""TaskRouter v1: the workspace, tasks (with ETag / If-Match), workers and reservations.

A task's ETag is its revision; every attribute or status change makes a new one. An update
whose `If-Match` names an older revision is refused with 412 / 20412 and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flexsim.api.formats import iso8601, meta_page
from flexsim.api.params import is_sid
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.errors import TwilioApiError, invalid_parameter, not_found, precondition_failed
from flexsim.world import Reservation, Task, Worker, World

WORKSPACE = "/v1/Workspaces/{WorkspaceSid}"
TASK_STATUSES = frozenset({"pending", "reserved", "assigned", "canceled", "completed", "wrapping"})
# Which assignment statuses the REST API may set, and from where (Twilio's task lifecycle).
SETTABLE_FROM = {
    "canceled": frozenset({"pending", "reserved"}),
    "wrapping": frozenset({"assigned"}),
    "completed": frozenset({"assigned", "wrapping"}),
}
_RESERVATION_STATUS = {"wrapup": "wrapping"}  # the world's name -> Twilio's enum
TASK_FILTERS = (
    *("AssignmentStatus", "TaskQueueSid", "TaskQueueName", "WorkflowSid", "WorkflowName"),
    *("Priority", "EvaluateTaskAttributes", "Ordering"),
)


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


def task_view(
    world: World, task: Task, urls: TaskRouterUrls, *, listed: bool = False
) -> dict[str, Any]:
    """A Task resource; `attributes` is a JSON string, as Twilio sends it.

    Listed tasks carry `attributes: null`: Twilio's spec (twilio_taskrouter_v1.json, schema
    `taskrouter.v1.workspace.task`, property `attributes`) says it "will only be displayed in
    FETCH action that returns a single resource. Otherwise, it will be null."
    """
    queue = world.queues.get(task.queue_sid)
    workflow = world.workflows.get(task.workflow_sid)
    url = urls.task(task.sid)
    return {
        "account_sid": world.account_sid,
        "age": max(0, int(world.clock.now() - task.date_created)),
        "assignment_status": task.assignment_status,
        "attributes": None if listed else json.dumps(task.attributes),
        "addons": "{}",
        "date_created": iso8601(task.date_created),
        "date_updated": iso8601(task.date_updated),
        "task_queue_entered_date": iso8601(task.date_created),
        "priority": task.priority,
        "reason": task.reason,
        "sid": task.sid,
        "task_queue_sid": task.queue_sid,
        "task_queue_friendly_name": queue.name if queue else None,
        "task_channel_sid": derived_sid("TC", world.workspace_sid, task.channel),
        "task_channel_unique_name": task.channel,
        "timeout": 86400,
        "workflow_sid": task.workflow_sid,
        "workflow_friendly_name": workflow.name if workflow else None,
        "workspace_sid": world.workspace_sid,
        "url": url,
        "links": {
            "task_queue": f"{urls.workspace}/TaskQueues/{task.queue_sid}",
            "workflow": f"{urls.workspace}/Workflows/{task.workflow_sid}",
            "workspace": urls.workspace,
            "reservations": f"{url}/Reservations",
        },
        "virtual_start_time": iso8601(task.date_created),
        "ignore_capacity": False,
        "routing_target": None,
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


# -- EvaluateTaskAttributes: the simulator understands `path == value` clauses joined by AND --
_CLAUSE = re.compile(
    r"""^\s*(?P<path>[A-Za-z_][\w.]*)\s*(?P<op>==|!=)\s*
    (?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>true|false|null))\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def parse_expression(expression: str) -> list[tuple[list[str], bool, object]]:
    """Parse `a.b == 'x' AND c != 2` into (path, equal?, value) clauses (400 otherwise)."""
    clauses: list[tuple[list[str], bool, object]] = []
    for text in _AND.split(expression.strip()):
        match = _CLAUSE.match(text)
        if match is None:
            raise invalid_parameter(
                "EvaluateTaskAttributes",
                "the simulator supports `attribute == value` clauses joined by AND",
            )
        value: object
        if match["sq"] is not None:
            value = match["sq"]
        elif match["dq"] is not None:
            value = match["dq"]
        elif match["num"] is not None:
            value = float(match["num"])
        else:
            value = {"true": True, "false": False, "null": None}[match["word"].lower()]
        clauses.append((match["path"].split("."), match["op"] == "==", value))
    return clauses


def _lookup(attributes: dict[str, Any], path: list[str]) -> object:
    node: object = attributes
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _same(left: object, right: object) -> bool:
    if isinstance(right, float) and isinstance(left, int | float) and not isinstance(left, bool):
        return float(left) == right
    return left == right


def matches(attributes: dict[str, Any], clauses: list[tuple[list[str], bool, object]]) -> bool:
    """Whether a task's attributes satisfy every clause."""
    return all(_same(_lookup(attributes, path), value) == equal for path, equal, value in clauses)


# -- operations ---------------------------------------------------------------------------------
def _urls(ctx: ApiContext) -> TaskRouterUrls:
    return TaskRouterUrls(ctx.hosts.taskrouter, ctx.world.workspace_sid)


def _task(ctx: ApiContext, req: ApiRequest) -> Task:
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


def _etag(task: Task) -> dict[str, str]:
    return {"ETag": str(task.revision)}


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
        [workspace_view(w, _urls(ctx), ctx.started_at) for w in chunk],
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
    return ApiResult(body=workspace_view(ctx.world, _urls(ctx), ctx.started_at))


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
    return ApiResult(body=workspace_view(world, _urls(ctx), ctx.started_at))


def list_tasks(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Tasks: filtered by AssignmentStatus (comma list), queue, workflow and attributes."""
    q = req.query
    statuses: set[str] = set()
    for value in q.get_all("AssignmentStatus"):
        for status in value.split(","):
            if status.strip() not in TASK_STATUSES:
                raise invalid_parameter("AssignmentStatus", "unknown assignment status")
            statuses.add(status.strip())
    queue_sid, workflow_sid = q.sid("TaskQueueSid", "WQ"), q.sid("WorkflowSid", "WW")
    queue_name, workflow_name = q.get("TaskQueueName"), q.get("WorkflowName")
    priority = q.optional_integer("Priority", 0, 2**31 - 1)
    expression = q.get("EvaluateTaskAttributes")
    clauses = parse_expression(expression) if expression else []
    ordering = q.get("Ordering") or "DateCreated:asc"
    if ordering not in ("DateCreated:asc", "DateCreated:desc", "Priority:desc,DateCreated:asc"):
        raise invalid_parameter("Ordering", "DateCreated:asc|desc or Priority:desc,DateCreated:asc")
    page = q.page()
    world = ctx.world
    tasks = [
        t
        for t in world.tasks.values()
        if (not statuses or t.assignment_status in statuses)
        and (queue_sid is None or t.queue_sid == queue_sid)
        and (workflow_sid is None or t.workflow_sid == workflow_sid)
        and (queue_name is None or _queue_name(world, t) == queue_name)
        and (workflow_name is None or _workflow_name(world, t) == workflow_name)
        and (priority is None or t.priority == priority)
        and (not clauses or matches(t.attributes, clauses))
    ]
    if ordering == "DateCreated:desc":
        tasks.reverse()
    elif ordering.startswith("Priority"):
        tasks.sort(key=lambda t: -t.priority)
    chunk, more = page.slice(tasks)
    urls = _urls(ctx)
    filters = q.filters(TASK_FILTERS)
    body = meta_page(
        "tasks",
        [task_view(world, t, urls, listed=True) for t in chunk],
        f"{urls.workspace}/Tasks",
        filters,
        page,
        more,
    )
    return ApiResult(body=body)


def _queue_name(world: World, task: Task) -> str | None:
    queue = world.queues.get(task.queue_sid)
    return queue.name if queue else None


def _workflow_name(world: World, task: Task) -> str | None:
    workflow = world.workflows.get(task.workflow_sid)
    return workflow.name if workflow else None


def fetch_task(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Tasks/{WT}, with the ETag header."""
    task = _task(ctx, req)
    return ApiResult(body=task_view(ctx.world, task, _urls(ctx)), headers=_etag(task))


def _if_match(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    value = value.removeprefix("W/")
    return value.strip('"')


def update_task(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Tasks/{WT}: Attributes, AssignmentStatus, Reason, Priority; If-Match guarded."""
    task = _task(ctx, req)
    form = req.form
    attributes = form.json_object("Attributes")
    status = form.enum("AssignmentStatus", TASK_STATUSES)
    reason = form.get("Reason")
    priority = form.optional_integer("Priority", 0, 2**31 - 1)
    expected = _if_match(req.headers.get("if-match"))
    if expected not in (None, "*") and expected != str(task.revision):
        raise precondition_failed()
    if status is not None and status != task.assignment_status:
        allowed_from = SETTABLE_FROM.get(status)
        if allowed_from is None or task.assignment_status not in allowed_from:
            raise TwilioApiError(
                400,
                20001,
                f"Task {task.sid} cannot be moved from {task.assignment_status} to {status}",
            )
    world = ctx.world
    if priority is not None and priority != task.priority:
        # The world has no priority transition; this is one, announced like Twilio does.
        task.priority = priority
        task.revision += 1
        task.date_updated = world.clock.now()
        world.emit("taskrouter", "task.updated", task=task)
    if attributes is not None:
        world.update_task_attributes(task, attributes)
    if status is not None:
        world.set_task_status(task, status, reason)
    elif reason is not None:
        task.reason = reason
    return ApiResult(body=task_view(world, task, _urls(ctx)), headers=_etag(task))


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
    urls = _urls(ctx)
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
    return ApiResult(body=worker_view(ctx.world, worker, _urls(ctx)))


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
    urls = _urls(ctx)
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
    task = _task(ctx, req)
    reservations = [ctx.world.reservations[sid] for sid in task.reservations]
    url = f"{_urls(ctx).task(task.sid)}/Reservations"
    return _reservation_page(ctx, req, reservations, url, by_task=True)


def fetch_task_reservation(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Tasks/{WT}/Reservations/{WR}."""
    task = _task(ctx, req)
    sid = req.path_params["Sid"]
    if sid not in task.reservations:
        raise not_found(req.path)
    urls = _urls(ctx)
    url = f"{urls.task(task.sid)}/Reservations/{sid}"
    return ApiResult(body=reservation_view(ctx.world, ctx.world.reservations[sid], urls, url))


def list_worker_reservations(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workers/{WK}/Reservations."""
    worker = _worker(ctx, req, "WorkerSid")
    reservations = [r for r in ctx.world.reservations.values() if r.worker_sid == worker.sid]
    url = f"{_urls(ctx).worker(worker.sid)}/Reservations"
    return _reservation_page(ctx, req, reservations, url, by_task=False)


def fetch_worker_reservation(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workers/{WK}/Reservations/{WR}."""
    worker = _worker(ctx, req, "WorkerSid")
    reservation = ctx.world.reservations.get(req.path_params["Sid"])
    if reservation is None or reservation.worker_sid != worker.sid:
        raise not_found(req.path)
    urls = _urls(ctx)
    url = f"{urls.worker(worker.sid)}/Reservations/{reservation.sid}"
    return ApiResult(body=reservation_view(ctx.world, reservation, urls, url))


OPERATIONS = [
    Operation("GET", "/v1/Workspaces", list_workspaces, "taskrouter_v1"),
    Operation("GET", "/v1/Workspaces/{Sid}", fetch_workspace, "taskrouter_v1"),
    Operation("POST", "/v1/Workspaces/{Sid}", update_workspace, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Tasks", list_tasks, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Tasks/{{Sid}}", fetch_task, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/Tasks/{{Sid}}", update_task, "taskrouter_v1"),
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
