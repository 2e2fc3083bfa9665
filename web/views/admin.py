"""Operator endpoints (SPEC "Operators"): tree, faults, metrics (guarded by
the ``OPERATE`` permission of ``web.security``), and the health check, open to all."""
from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from actors.errors import Invalid, NotFound, Unavailable
from web import params
from web.security import OPERATE


@view_config(route_name="tree", request_method="GET", renderer="json", permission=OPERATE)
def tree(request: Request) -> dict[str, Any] | Response:
    """The live actor tree: JSON, or ``?format=text`` for the indented text form."""
    match request.GET.get("format", "json"):
        case "json":
            return request.registry.hls.operators.tree()
        case "text":
            return Response(text=request.registry.hls.operators.tree_text() + "\n",
                            content_type="text/plain", charset="utf-8")
        case other:
            raise Invalid(f"format must be json or text, not {other!r}")


@view_config(route_name="faults", request_method="POST", renderer="json", permission=OPERATE)
def inject_fault(request: Request) -> dict[str, Any]:
    """``{"fault", "session"?}``: only with ``hls.faults_enabled = true``."""
    system = request.registry.hls
    if not system.settings.faults_enabled:
        raise NotFound("fault injection is off (hls.faults_enabled = false)")
    body = params.json_body(request)
    return system.operators.inject_fault(params.text(body.get("fault"), "fault", required=True),
                               params.text(body.get("session"), "session"))


@view_config(route_name="metrics", request_method="GET", permission=OPERATE)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this instance's registry."""
    response = Response(body=request.registry.hls.runtime.metrics.exposition())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


@view_config(route_name="healthz", request_method="GET", renderer="json",
             permission=NO_PERMISSION_REQUIRED)
def healthz(request: Request) -> dict[str, Any]:
    """Open to every client (load balancers, probes): 200 while the root supervisor is
    alive, 503 otherwise. Says nothing a stranger could use: no sessions, no uptime."""
    system = request.registry.hls
    if not system.alive():
        raise Unavailable("the root supervisor is not running", retry_in=5)
    return {"status": "ok", "instance": system.settings.instance, "pid": os.getpid()}


@view_config(route_name="scan", request_method="GET", renderer="json")
def scan_progress(request: Request) -> dict[str, Any]:
    """The library scan's progress: open to all who may see the library page that shows it."""
    return request.registry.hls.library_view.progress()


@view_config(route_name="scan", request_method="POST", renderer="json", permission=OPERATE)
def scan_now(request: Request) -> dict[str, Any]:
    """Start a library scan now; answers at once with the progress so far."""
    return request.registry.hls.scan_now()
