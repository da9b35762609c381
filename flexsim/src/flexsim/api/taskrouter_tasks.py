"""TaskRouter v1 tasks: create, list (filters, attributes null), fetch and update with ETag /
If-Match.

A task's ETag is its revision; every attribute or status change makes a new one. An update
whose `If-Match` names an older revision is refused with 412 / 20412 and changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flexsim.api.formats import iso8601, meta_page
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.taskrouter import (
    WORKSPACE,
    TaskRouterUrls,
    derived_sid,
    find_task,
    urls_of,
)
from flexsim.errors import TwilioApiError, invalid_parameter, precondition_failed
from flexsim.world import Task, World

TASK_STATUSES = frozenset({"pending", "reserved", "assigned", "canceled", "completed", "wrapping"})
# Which assignment statuses the REST API may set, and from where (Twilio's task lifecycle).
SETTABLE_FROM = {
    "canceled": frozenset({"pending", "reserved"}),
    "wrapping": frozenset({"assigned"}),
    "completed": frozenset({"assigned", "wrapping"}),
}
TASK_FILTERS = (
    *("AssignmentStatus", "TaskQueueSid", "TaskQueueName", "WorkflowSid", "WorkflowName"),
    *("Priority", "EvaluateTaskAttributes", "Ordering"),
)


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


def _etag(task: Task) -> dict[str, str]:
    return {"ETag": str(task.revision)}


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
    urls = urls_of(ctx)
    filters = q.filters(TASK_FILTERS)
    body = meta_page(
        "tasks",
        [task_view(world, t, urls, listed=world.list_task_attributes == "null") for t in chunk],
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
    task = find_task(ctx, req)
    return ApiResult(body=task_view(ctx.world, task, urls_of(ctx)), headers=_etag(task))


def _if_match(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    value = value.removeprefix("W/")
    return value.strip('"')


def update_task(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Tasks/{WT}: Attributes, AssignmentStatus, Reason, Priority; If-Match guarded."""
    task = find_task(ctx, req)
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
    return ApiResult(body=task_view(world, task, urls_of(ctx)), headers=_etag(task))


def create_task(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Tasks (OAI `CreateTask`): Attributes (a JSON object, default `{}`), WorkflowSid
    (required when the workspace has more than one workflow), TaskChannel (default
    `default`), Priority, Timeout. The task enters the workflow's first queue, pending, and
    TaskRouter announces `task.created` and `task-queue.entered`."""
    form, world = req.form, ctx.world
    attributes = form.json_object("Attributes") or {}
    workflow_sid = form.sid("WorkflowSid", "WW")
    if workflow_sid is not None:
        workflow = world.workflows.get(workflow_sid)
        if workflow is None:
            raise TwilioApiError(400, 20001, f"Workflow {workflow_sid} not found")
    elif len(world.workflows) == 1:
        workflow = next(iter(world.workflows.values()))
    else:
        raise TwilioApiError(
            400, 20001, "WorkflowSid is required when the workspace has several workflows"
        )
    if not world.queues:
        raise TwilioApiError(400, 20001, "The workspace has no TaskQueue to route to")
    channel = form.get("TaskChannel") or "default"
    priority = form.integer("Priority", 0, 2**31 - 1, 0)
    form.optional_integer("Timeout", 1, 365 * 86400)
    queue = next(iter(world.queues.values()))
    task = world.create_task(attributes, queue, workflow, channel=channel)
    task.priority = priority
    return ApiResult(status=201, body=task_view(world, task, urls_of(ctx)), headers=_etag(task))


OPERATIONS = [
    Operation("GET", f"{WORKSPACE}/Tasks", list_tasks, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/Tasks", create_task, "taskrouter_v1"),
    Operation("GET", f"{WORKSPACE}/Tasks/{{Sid}}", fetch_task, "taskrouter_v1"),
    Operation("POST", f"{WORKSPACE}/Tasks/{{Sid}}", update_task, "taskrouter_v1"),
]
