"""Request helpers shared by the routers: the app's services and settings, JSON errors."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from typing import Any, NoReturn

from fastapi import HTTPException, Request

from flexrec.config import Settings
from flexrec.server.services import Services


def get_services(request: Request) -> Services:
    """The `Services` the app was created with."""
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    """The `Settings` the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def fail(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> NoReturn:
    """Raise an HTTP error whose JSON body is `{"error": ..., "message": ...}`."""
    raise HTTPException(status, detail={"error": error, "message": message}, headers=headers)


def jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models, enums, tuples and datetimes as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
