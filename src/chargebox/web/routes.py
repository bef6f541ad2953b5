"""Route tables of the web pages: a page package lists its routes as `Route` rows (method,
path, the lowest role, handler) and `add_routes` registers them, each behind its role's
guard, which also checks the CSRF token on a POST.

A handler takes the request and the session; on a path with ``{user_id}`` it takes the id
too, validated as an int by FastAPI (a path that is not one answers 422, as before).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from chargebox.store.users import SessionRecord

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["Handler", "IdHandler", "Route", "add_routes"]

Handler = Callable[[Request, SessionRecord], Awaitable[Response]]
IdHandler = Callable[[Request, SessionRecord, int], Awaitable[Response]]
Endpoint = Callable[..., Awaitable[Response]]


class Route(NamedTuple):
    method: str
    path: str
    role: str  # the lowest role that may use it
    handler: Handler | IdHandler  # an IdHandler on a path with `{user_id}`


def _endpoint(route: Route, guard: Any) -> Endpoint:
    """A FastAPI endpoint: the role (and, on POST, CSRF) checked by `guard` first."""
    if "{user_id}" in route.path:
        with_id = cast(IdHandler, route.handler)

        async def id_endpoint(
            request: Request, user_id: int, session: SessionRecord = guard
        ) -> Response:
            return await with_id(request, session, user_id)

        return id_endpoint
    handler = cast(Handler, route.handler)

    async def endpoint(request: Request, session: SessionRecord = guard) -> Response:
        return await handler(request, session)

    return endpoint


def add_routes(ui: WebUI, app: FastAPI, routes: Sequence[Route]) -> None:
    """Add every route to `app`, each behind its role."""
    guards = {role: Depends(ui.auth.require(role)) for role in {r.role for r in routes}}
    for route in routes:
        app.add_api_route(
            route.path,
            _endpoint(route, guards[route.role]),
            methods=[route.method],
            name=f"{route.method.lower()} {route.path}",
            include_in_schema=False,
            response_model=None,
        )
