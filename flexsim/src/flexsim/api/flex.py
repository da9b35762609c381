"""Flex v1 Configuration: what a Flex account reports, with the recording toggle from the world."""

from __future__ import annotations

from typing import Any

from flexsim.api.formats import iso8601
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.taskrouter import derived_sid


def configuration_view(ctx: ApiContext) -> dict[str, Any]:
    """The Configuration resource; keys set in `world.flex_configuration` override defaults."""
    world = ctx.world
    ws = world.workspace_sid
    view: dict[str, Any] = {
        "account_sid": world.account_sid,
        "date_created": iso8601(ctx.started_at),
        "date_updated": iso8601(ctx.started_at),
        "attributes": {},
        "status": "ok",
        "taskrouter_workspace_sid": ws,
        "taskrouter_target_workflow_sid": next(iter(world.workflows), None),
        "taskrouter_target_taskqueue_sid": next(iter(world.queues), None),
        "taskrouter_taskqueues": [
            {"sid": q.sid, "targettable": True} for q in world.queues.values()
        ],
        "taskrouter_skills": [],
        "taskrouter_worker_channels": {"agent": [{"name": "voice", "availability": True}]},
        "taskrouter_worker_attributes": {},
        "taskrouter_offline_activity_sid": derived_sid("WA", ws, "Offline"),
        "runtime_domain": "flexsim-0001.twil.io",
        "messaging_service_instance_sid": None,
        "chat_service_instance_sid": None,
        "flex_service_instance_sid": None,
        "flex_instance_sid": derived_sid("GO", world.account_sid, "flex"),
        "ui_language": "en",
        "ui_attributes": {},
        "ui_dependencies": {},
        "ui_version": "2.9.0",
        "service_version": "1.0",
        "call_recording_enabled": False,
        "call_recording_webhook_url": None,
        "crm_enabled": False,
        "crm_type": None,
        "crm_callback_url": None,
        "crm_fallback_url": None,
        "crm_attributes": {},
        "public_attributes": {},
        "plugin_service_enabled": True,
        "plugin_service_attributes": {},
        "integrations": [],
        "outbound_call_flows": {},
        "serverless_service_sids": [],
        "queue_stats_configuration": {},
        "notifications": {},
        "markdown": {},
        "url": f"{ctx.hosts.flex}/v1/Configuration",
        "flex_insights_hr": {},
        "flex_insights_drilldown": False,
        "flex_url": "https://flex.twilio.com/",
        "channel_configs": [],
        "debugger_integration": {},
        "flex_ui_status_report": {},
        "agent_conv_end_methods": {},
        "citrix_voice_vdi": {},
        "offline_config": {},
    }
    for key, value in world.flex_configuration.items():
        if key in view:
            view[key] = value
    return view


def fetch_configuration(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET /v1/Configuration (UiVersion is accepted and ignored)."""
    return ApiResult(body=configuration_view(ctx))


OPERATIONS = [Operation("GET", "/v1/Configuration", fetch_configuration, "flex_v1")]
