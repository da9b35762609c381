"""Event Streams v1: Sinks and Subscriptions, kept on the world for the engine to deliver to.

Webhook sinks are `active` as soon as they are made (Twilio validates them first; the
simulator trusts its caller). The engine posts batches to `world.event_stream_sinks[i]
["destination"]` for the event types of the subscriptions naming that sink.
"""

from __future__ import annotations

import json
from typing import Any

from flexsim.api.formats import iso8601, meta_page
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.errors import invalid_parameter, not_found

SINK_TYPES = frozenset({"kinesis", "webhook", "segment", "email"})


def sink_view(ctx: ApiContext, sink: dict[str, Any]) -> dict[str, Any]:
    """A Sink resource."""
    url = f"{ctx.hosts.events}/v1/Sinks/{sink['sid']}"
    return {
        "date_created": iso8601(sink["date_created"]),
        "date_updated": iso8601(sink["date_updated"]),
        "description": sink["description"],
        "sid": sink["sid"],
        "sink_configuration": sink["sink_configuration"],
        "sink_type": sink["sink_type"],
        "status": sink["status"],
        "url": url,
        "links": {"sink_test": f"{url}/Test", "sink_validate": f"{url}/Validate"},
    }


def subscription_view(ctx: ApiContext, subscription: dict[str, Any]) -> dict[str, Any]:
    """A Subscription resource."""
    url = f"{ctx.hosts.events}/v1/Subscriptions/{subscription['sid']}"
    return {
        "account_sid": ctx.world.account_sid,
        "sid": subscription["sid"],
        "date_created": iso8601(subscription["date_created"]),
        "date_updated": iso8601(subscription["date_updated"]),
        "description": subscription["description"],
        "sink_sid": subscription["sink_sid"],
        "url": url,
        "links": {"subscribed_events": f"{url}/SubscribedEvents"},
    }


def create_sink(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST /v1/Sinks: Description, SinkConfiguration (JSON), SinkType."""
    form = req.form
    description = form.require("Description")
    sink_type = form.enum("SinkType", SINK_TYPES)
    if sink_type is None:
        raise invalid_parameter("SinkType", "required")
    configuration = form.json_object("SinkConfiguration")
    if configuration is None:
        raise invalid_parameter("SinkConfiguration", "required")
    destination = configuration.get("destination")
    if sink_type == "webhook" and not (
        isinstance(destination, str) and destination.startswith(("http://", "https://"))
    ):
        raise invalid_parameter("SinkConfiguration", "a webhook sink needs an http(s) destination")
    world = ctx.world
    now = world.clock.now()
    sink = {
        "sid": world.sids.new("DG"),
        "destination": destination,
        "sink_type": sink_type,
        "description": description,
        "sink_configuration": configuration,
        "status": "active",
        "date_created": now,
        "date_updated": now,
    }
    world.event_stream_sinks.append(sink)
    return ApiResult(status=201, body=sink_view(ctx, sink))


def list_sinks(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Sinks: filtered by InUse and Status."""
    q = req.query
    in_use = q.boolean("InUse")
    status = q.enum("Status", {"initialized", "validating", "active", "failed"})
    page = q.page()
    used = {s["sink_sid"] for s in ctx.world.event_subscriptions}
    sinks = [
        s
        for s in ctx.world.event_stream_sinks
        if (in_use is None or (s["sid"] in used) == in_use)
        and (status is None or s["status"] == status)
    ]
    chunk, more = page.slice(sinks)
    body = meta_page(
        "sinks",
        [sink_view(ctx, s) for s in chunk],
        f"{ctx.hosts.events}/v1/Sinks",
        q.filters(["InUse", "Status"]),
        page,
        more,
    )
    return ApiResult(body=body)


def fetch_sink(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Sinks/{DG}."""
    sid = req.path_params["Sid"]
    sink = next((s for s in ctx.world.event_stream_sinks if s["sid"] == sid), None)
    if sink is None:
        raise not_found(req.path)
    return ApiResult(body=sink_view(ctx, sink))


def _types(values: list[str]) -> list[dict[str, Any]]:
    types: list[dict[str, Any]] = []
    for value in values:
        try:
            parsed = json.loads(value)
        except ValueError:
            raise invalid_parameter("Types", "each must be a JSON object") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            raise invalid_parameter("Types", 'each must be {"type": ..., "schema_version": n}')
        version = parsed.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise invalid_parameter("Types", "schema_version must be an integer")
        types.append({"type": parsed["type"], "schema_version": version})
    if not types:
        raise invalid_parameter("Types", "required")
    return types


def create_subscription(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST /v1/Subscriptions: Description, SinkSid, Types (repeated JSON objects)."""
    form = req.form
    description = form.require("Description")
    sink_sid = form.sid("SinkSid", "DG")
    if sink_sid is None:
        raise invalid_parameter("SinkSid", "required")
    types = _types(form.get_all("Types"))
    world = ctx.world
    if not any(s["sid"] == sink_sid for s in world.event_stream_sinks):
        raise invalid_parameter("SinkSid", "no such sink")
    now = world.clock.now()
    subscription = {
        "sid": world.sids.new("DF"),
        "sink_sid": sink_sid,
        "description": description,
        "types": types,
        "date_created": now,
        "date_updated": now,
    }
    world.event_subscriptions.append(subscription)
    return ApiResult(status=201, body=subscription_view(ctx, subscription))


def list_subscriptions(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Subscriptions: filtered by SinkSid."""
    q = req.query
    sink_sid = q.sid("SinkSid", "DG")
    page = q.page()
    subscriptions = [
        s for s in ctx.world.event_subscriptions if sink_sid is None or s["sink_sid"] == sink_sid
    ]
    chunk, more = page.slice(subscriptions)
    body = meta_page(
        "subscriptions",
        [subscription_view(ctx, s) for s in chunk],
        f"{ctx.hosts.events}/v1/Subscriptions",
        q.filters(["SinkSid"]),
        page,
        more,
    )
    return ApiResult(body=body)


def list_subscribed_events(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Subscriptions/{DF}/SubscribedEvents: the subscription's event types.

    Source: twilio_events_v1.json, `ListSubscribedEvent` (envelope key `types`).
    """
    sid = req.path_params["SubscriptionSid"]
    subscription = next((s for s in ctx.world.event_subscriptions if s["sid"] == sid), None)
    if subscription is None:
        raise not_found(req.path)
    url = f"{ctx.hosts.events}/v1/Subscriptions/{sid}/SubscribedEvents"
    page = req.query.page()
    chunk, more = page.slice(subscription["types"])
    items = [
        {
            "account_sid": ctx.world.account_sid,
            "type": t["type"],
            "schema_version": t["schema_version"],
            "subscription_sid": sid,
            "url": f"{url}/{t['type']}",
        }
        for t in chunk
    ]
    return ApiResult(body=meta_page("types", items, url, [], page, more))


def add_subscribed_event(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST /v1/Subscriptions/{DF}/SubscribedEvents: Type, SchemaVersion (default 1).

    Source: twilio_events_v1.json, `CreateSubscribedEvent`.
    """
    sid = req.path_params["SubscriptionSid"]
    subscription = next((s for s in ctx.world.event_subscriptions if s["sid"] == sid), None)
    if subscription is None:
        raise not_found(req.path)
    event_type = req.form.require("Type")
    version = int(req.form.get("SchemaVersion") or 1)
    if not any(t["type"] == event_type for t in subscription["types"]):
        subscription["types"].append({"type": event_type, "schema_version": version})
    body = {
        "account_sid": ctx.world.account_sid,
        "type": event_type,
        "schema_version": version,
        "subscription_sid": sid,
        "url": f"{ctx.hosts.events}/v1/Subscriptions/{sid}/SubscribedEvents/{event_type}",
    }
    return ApiResult(status=201, body=body)


def delete_subscription(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """DELETE /v1/Subscriptions/{DF}: 204, and the sink no longer gets those events.

    Source: twilio_events_v1.json, `DeleteSubscription` (204 "The resource was deleted").
    """
    sid = req.path_params["Sid"]
    world = ctx.world
    kept = [s for s in world.event_subscriptions if s["sid"] != sid]
    if len(kept) == len(world.event_subscriptions):
        raise not_found(req.path)
    world.event_subscriptions[:] = kept
    return ApiResult(status=204)


OPERATIONS = [
    Operation("POST", "/v1/Sinks", create_sink, "events_v1"),
    Operation("GET", "/v1/Sinks", list_sinks, "events_v1"),
    Operation("GET", "/v1/Sinks/{Sid}", fetch_sink, "events_v1"),
    Operation("POST", "/v1/Subscriptions", create_subscription, "events_v1"),
    Operation("GET", "/v1/Subscriptions", list_subscriptions, "events_v1"),
    Operation("DELETE", "/v1/Subscriptions/{Sid}", delete_subscription, "events_v1"),
    Operation(
        "GET",
        "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents",
        list_subscribed_events,
        "events_v1",
    ),
    Operation(
        "POST",
        "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents",
        add_subscribed_event,
        "events_v1",
    ),
]
