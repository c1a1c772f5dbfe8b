"""Handlers for the read-only ``/departments`` resource (seller companies, reference §5)."""

from __future__ import annotations

from .api_types import ApiRequest, ApiResponse, HandlerEnv
from .coerce import parse_int
from .errors import ApiError


def index(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    return ApiResponse(json=[d.to_dict() for d in env.state.config.departments])


def show(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    department = env.state.config.department(parse_int(request.match["id"]) or 0)
    if department is None:
        raise ApiError.not_found()
    return ApiResponse(json=department.to_dict())
