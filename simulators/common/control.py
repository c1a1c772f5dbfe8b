"""Plumbing of the ``/__sim/`` control API, so a demo or another process can drive a standalone
simulator. Each provider's ``ControlApi`` only forwards to its simulator facade, keeping one
implementation of each operation. No authentication: the simulators are meant for localhost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from .faults import BaseFaultRule

_T = TypeVar("_T")


async def payload(request: web.Request) -> Any:
    """The request's JSON (``{}`` without a body); 400 when it is not JSON."""
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="invalid JSON") from None


def ok() -> web.Response:
    return web.json_response({"status": "ok"})


def as_list(data: Any) -> list[Any]:
    """Accept one object or a list of them."""
    return data if isinstance(data, list) else [data]


def or_400(action: Callable[[], _T], *errors: type[Exception]) -> _T:
    """``action()``, or 400 with the error's text when the payload does not fit (a
    ``TypeError``, ``ValueError`` or one of ``errors``)."""
    try:
        return action()
    except (TypeError, ValueError, *errors) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


def known_name(request: web.Request, key: str, known: Iterable[str], noun: str) -> str:
    """The path's ``key`` part, or 404 so typos in a demo script are obvious."""
    name = request.match_info[key]
    if name not in set(known):
        raise web.HTTPNotFound(text=f"unknown {noun} {name!r}")
    return name


class _Simulator(Protocol):
    def add_fault(self, owner: str, rule: Any, /) -> None: ...

    def clear_faults(self, owner: str, /) -> None: ...

    def request_log(self, owner: str, /) -> list[Any]: ...


_Sim = TypeVar("_Sim", bound=_Simulator)


class BaseControlApi(Generic[_Sim]):
    """aiohttp handlers bound to one simulator: the ones both simulators have.

    Faults and the request log belong to an owner named in the path (a Fakturownia account, a
    wFirma login); subclasses say which with ``_owner`` and set ``_rule_type`` to the provider's
    ``FaultRule``.
    """

    _rule_type: type[BaseFaultRule]

    def __init__(self, sim: _Sim) -> None:
        self._sim = sim

    def _owner(self, request: web.Request) -> str:
        raise NotImplementedError

    async def health(self, request: web.Request) -> web.Response:
        return ok()

    async def add_faults(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        data = await payload(request)
        rules = or_400(lambda: [self._rule_type.from_dict(item) for item in as_list(data)])
        for rule in rules:
            self._sim.add_fault(owner, rule)
        return web.json_response([r.to_dict() for r in rules], status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self._sim.clear_faults(self._owner(request))
        return ok()

    async def requests(self, request: web.Request) -> web.Response:
        log = self._sim.request_log(self._owner(request))
        return web.json_response([r._asdict() for r in log])
