"""``X-Hlsd-Node`` on every answer, errors and static files included: behind nginx, which
node answered (nginx logs it, and keeps it on the segments it sends itself)."""
from __future__ import annotations

from pyramid.events import NewResponse, subscriber

NODE_HEADER = "X-Hlsd-Node"


@subscriber(NewResponse)
def name_the_node(event: NewResponse) -> None:
    event.response.headers[NODE_HEADER] = event.request.registry.hls.settings.instance
