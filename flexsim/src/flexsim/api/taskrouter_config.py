"""TaskRouter v1: the workspace's configuration a Flex back-end reads and makes: TaskQueues,
Workflows and Activities (list, fetch, create).

Resource shapes and parameters follow twilio_taskrouter_v1.json (schemas
`taskrouter.v1.workspace.task_queue`, `.workflow`, `.activity`; operations `CreateTaskQueue`,
`CreateWorkflow`, `CreateActivity` and their list filters). Activities are named: an activity's
SID is derived from the workspace and its name, as workers' `activity_sid` is.
"""

from __future__ import annotations

import json
from typing import Any

from flexsim.api.formats import iso8601, meta_page
from flexsim.api.params import is_sid
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.taskrouter import WORKSPACE, TaskRouterUrls, urls_of
from flexsim.errors import TwilioApiError, invalid_parameter, not_found
from flexsim.world import Queue, Workflow, World

TASK_ORDERS = frozenset({"FIFO", "LIFO"})


def activity_sid(world: World, name: str) -> str:
    """The SID of the activity called `name` (as `World.set_worker_activity` names it)."""
    return world.activity_sid(name)


def _activity_links(urls: TaskRouterUrls) -> dict[str, str]:
    return {"workspace": urls.workspace}


def activity_view(world: World, name: str, urls: TaskRouterUrls, created: float) -> dict[str, Any]:
    """An Activity resource."""
    sid = activity_sid(world, name)
    return {
        "account_sid": world.account_sid,
        "available": world.activities[name],
        "date_created": iso8601(created),
        "date_updated": iso8601(created),
        "friendly_name": name,
        "sid": sid,
        "workspace_sid": world.workspace_sid,
        "url": f"{urls.workspace}/Activities/{sid}",
        "links": _activity_links(urls),
    }


def queue_view(world: World, queue: Queue, urls: TaskRouterUrls) -> dict[str, Any]:
    """A TaskQueue resource (reservation/assignment activities: none set, as Flex leaves them)."""
    url = f"{urls.workspace}/TaskQueues/{queue.sid}"
    return {
        "account_sid": world.account_sid,
        "assignment_activity_sid": None,
        "assignment_activity_name": None,
        "date_created": iso8601(queue.date_created),
        "date_updated": iso8601(queue.date_created),
        "friendly_name": queue.name,
        "max_reserved_workers": queue.max_reserved_workers,
        "reservation_activity_sid": None,
        "reservation_activity_name": None,
        "sid": queue.sid,
        "target_workers": queue.target_workers,
        "task_order": queue.task_order,
        "url": url,
        "workspace_sid": world.workspace_sid,
        "links": {
            "workspace": urls.workspace,
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "list_statistics": f"{urls.workspace}/TaskQueues/Statistics",
        },
    }


def workflow_view(world: World, workflow: Workflow, urls: TaskRouterUrls) -> dict[str, Any]:
    """A Workflow resource."""
    url = f"{urls.workspace}/Workflows/{workflow.sid}"
    return {
        "account_sid": world.account_sid,
        "assignment_callback_url": workflow.assignment_callback_url,
        "configuration": workflow.configuration,
        "date_created": iso8601(workflow.date_created),
        "date_updated": iso8601(workflow.date_created),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": workflow.fallback_assignment_callback_url,
        "friendly_name": workflow.name,
        "sid": workflow.sid,
        "task_reservation_timeout": workflow.task_reservation_timeout,
        "workspace_sid": world.workspace_sid,
        "url": url,
        "links": {
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
        },
    }


def _duplicate(kind: str, name: str) -> TwilioApiError:
    return TwilioApiError(400, 20001, f"{kind} with FriendlyName {name!r} already exists")


def _page(ctx: ApiContext, req: ApiRequest, key: str, path: str, items: list[Any],
          view: Any, filters: tuple[str, ...]) -> ApiResult:  # fmt: skip
    page = req.query.page()
    chunk, more = page.slice(items)
    urls = urls_of(ctx)
    body = meta_page(
        key,
        [view(item) for item in chunk],
        f"{urls.workspace}/{path}",
        req.query.filters(filters),
        page,
        more,
    )
    return ApiResult(body=body)


# -- TaskQueues -------------------------------------------------------------------------------
def list_queues(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET TaskQueues: filtered by exact FriendlyName, ordered by creation."""
    name = req.query.get("FriendlyName")
    world = ctx.world
    queues = [q for q in world.queues.values() if name is None or q.name == name]
    urls = urls_of(ctx)
    return _page(ctx, req, "task_queues", "TaskQueues", queues,
                 lambda q: queue_view(world, q, urls), ("FriendlyName",))  # fmt: skip


def _queue(ctx: ApiContext, req: ApiRequest) -> Queue:
    sid = req.path_params["Sid"]
    queue = ctx.world.queues.get(sid) if is_sid(sid, "WQ") else None
    if queue is None:
        raise not_found(req.path)
    return queue


def fetch_queue(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET TaskQueues/{WQ}."""
    return ApiResult(body=queue_view(ctx.world, _queue(ctx, req), urls_of(ctx)))


def create_queue(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST TaskQueues: FriendlyName (required, unique), TargetWorkers, TaskOrder,
    MaxReservedWorkers."""
    form, world = req.form, ctx.world
    name = form.require("FriendlyName")
    if any(q.name == name for q in world.queues.values()):
        raise _duplicate("TaskQueue", name)
    queue = world.add_queue(
        name,
        target_workers=form.get("TargetWorkers") or "1==1",
        task_order=form.enum("TaskOrder", TASK_ORDERS, "FIFO") or "FIFO",
        max_reserved_workers=form.integer("MaxReservedWorkers", 1, 50, 1),
    )
    return ApiResult(status=201, body=queue_view(world, queue, urls_of(ctx)))


# -- Workflows --------------------------------------------------------------------------------
def list_workflows(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workflows: filtered by exact FriendlyName."""
    name = req.query.get("FriendlyName")
    world = ctx.world
    flows = [w for w in world.workflows.values() if name is None or w.name == name]
    urls = urls_of(ctx)
    return _page(ctx, req, "workflows", "Workflows", flows,
                 lambda w: workflow_view(world, w, urls), ("FriendlyName",))  # fmt: skip


def _workflow(ctx: ApiContext, req: ApiRequest) -> Workflow:
    sid = req.path_params["Sid"]
    workflow = ctx.world.workflows.get(sid) if is_sid(sid, "WW") else None
    if workflow is None:
        raise not_found(req.path)
    return workflow


def fetch_workflow(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Workflows/{WW}."""
    return ApiResult(body=workflow_view(ctx.world, _workflow(ctx, req), urls_of(ctx)))


def create_workflow(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Workflows: FriendlyName and Configuration (a JSON document) required."""
    form, world = req.form, ctx.world
    name = form.require("FriendlyName")
    configuration = form.require("Configuration")
    try:
        parsed = json.loads(configuration)
    except ValueError:
        raise invalid_parameter("Configuration", "must be a JSON document") from None
    if not isinstance(parsed, dict) or "task_routing" not in parsed:
        raise invalid_parameter("Configuration", "needs a task_routing section")
    workflow = world.add_workflow(
        name,
        configuration=configuration,
        assignment_callback_url=form.url("AssignmentCallbackUrl"),
        fallback_assignment_callback_url=form.url("FallbackAssignmentCallbackUrl"),
        task_reservation_timeout=form.integer("TaskReservationTimeout", 1, 86400, 120),
    )
    return ApiResult(status=201, body=workflow_view(world, workflow, urls_of(ctx)))


# -- Activities -------------------------------------------------------------------------------
def list_activities(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Activities: filtered by exact FriendlyName and Available."""
    name = req.query.get("FriendlyName")
    available = req.query.boolean("Available")
    world = ctx.world
    names = [
        n
        for n, free in world.activities.items()
        if (name is None or n == name) and (available is None or free == available)
    ]
    urls = urls_of(ctx)
    return _page(ctx, req, "activities", "Activities", names,
                 lambda n: activity_view(world, n, urls, ctx.started_at),
                 ("FriendlyName", "Available"))  # fmt: skip


def fetch_activity(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Activities/{WA}."""
    world = ctx.world
    sid = req.path_params["Sid"]
    name = next((n for n in world.activities if activity_sid(world, n) == sid), None)
    if name is None:
        raise not_found(req.path)
    return ApiResult(body=activity_view(world, name, urls_of(ctx), ctx.started_at))


def create_activity(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Activities: FriendlyName (required, unique), Available (default true)."""
    form, world = req.form, ctx.world
    name = form.require("FriendlyName")
    if name in world.activities:
        raise _duplicate("Activity", name)
    available = form.boolean("Available")
    world.activities[name] = True if available is None else available
    return ApiResult(status=201, body=activity_view(world, name, urls_of(ctx), world.clock.now()))


OPERATIONS = [
    Operation("GET", f"{WORKSPACE}/TaskQueues", list_queues, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/TaskQueues", create_queue, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/TaskQueues/{{Sid}}", fetch_queue, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Workflows", list_workflows, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/Workflows", create_workflow, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Workflows/{{Sid}}", fetch_workflow, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Activities", list_activities, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/Activities", create_activity, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Activities/{{Sid}}", fetch_activity, "taskrouter_v1"),
]
