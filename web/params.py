"""Reading what a client sent: a JSON body and its fields, query values. Anything
malformed is ``Invalid`` (400) that says which field and why."""
from __future__ import annotations

import math
from typing import Any

from pyramid.request import Request

from actors.errors import Invalid


def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    if not request.body:
        return {}
    try:
        body = request.json_body
    except ValueError:
        raise Invalid("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Invalid(f"{name} must be a non-empty string")
    return value


def seconds(value: Any, name: str) -> float | None:
    """A finite, non-negative number of seconds; a string of one too (a query value)."""
    if value is None:
        return None
    invalid = Invalid(f"{name} must be a non-negative number of seconds")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid
    try:
        number = float(value)
    except ValueError:
        raise invalid from None
    if not (math.isfinite(number) and number >= 0):
        raise invalid
    return number


def flag(value: Any, name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false")
    return value


def track(value: Any, name: str) -> int | None:
    """A track (stream) index: a non-negative integer, or a string of one (a query value)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 6:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10 ** 6:
        return value
    raise Invalid(f"{name} must be a track index (a non-negative integer)")
