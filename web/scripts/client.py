"""hlsctl's side of HTTP: one request to one hlsd node, with a deadline, and errors that
end the command with its exit code (1: the server answered with an error, 3: no answer).
Proxy variables are ignored, so a token only ever goes to hlsd."""
from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

EXIT_OK = 0
EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class CommandError(Exception):
    """Ends the command with ``code`` and the one-line ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    node: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CommandError(EXIT_SERVER_ERROR,
                               f"answer {self.status} is not JSON: {_first_line(self.body)}") from None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class Client:
    url: str
    token: str
    timeout: float

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        """One request; a 4xx/5xx answer raises exit 1, no answer at all raises exit 3."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.headers.get_content_type(), response.read(),
                              response.headers.get("X-Hlsd-Node") or self.url)
        except urllib.error.HTTPError as error:
            raise CommandError(EXIT_SERVER_ERROR, _server_error(error)) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise CommandError(EXIT_UNREACHABLE, self._unreachable(error)) from None

    def _unreachable(self, error: Exception) -> str:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(reason, TimeoutError):
            return f"no answer from {self.url} within {self.timeout:g} s"
        if isinstance(reason, OSError) and reason.strerror:
            return f"cannot connect to {self.url}: {reason.strerror}"
        return f"cannot connect to {self.url}: {str(reason) or type(reason).__name__}"


def _server_error(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read()
    except (OSError, http.client.HTTPException):
        body = b""
    finally:
        error.close()
    try:
        answer = json.loads(body)
        return f"{error.code} {answer['error']}: {answer['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"{error.code} {error.reason}: {_first_line(body) or 'no detail'}"


def _first_line(body: bytes, limit: int = 200) -> str:
    lines = body.decode("utf-8", "replace").strip().splitlines()
    return lines[0][:limit] if lines else ""
