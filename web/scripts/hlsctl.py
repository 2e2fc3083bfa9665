"""hlsctl: the operator's command line for hlsd.

    hlsctl [--url URL]... [--token T] [--json] [--timeout S] tree | sessions | stop ID | fault KIND [ID]
    hlsctl [...] scan [--wait S]
    hlsctl reap [--config INI] [--json]
    hlsctl users add|passwd|remove|key|list ... [--config INI]   (web/scripts/users.py)

The first form talks to running hlsd nodes over HTTP (``--url``, repeated for several
nodes, else ``$HLSD_URL`` as a comma list, else http://127.0.0.1:6543; ``--token``, else
``$HLSD_TOKEN``, sent as a bearer token). With several nodes, ``tree`` and ``sessions``
print each node's answer under its name (``X-Hlsd-Node``), ``stop`` asks every node (the
ones not running the session answer 204 too), ``fault`` takes one node. ``scan`` starts a
library scan and shows its progress bar until it has finished (at most ``--wait`` s); with
``--json`` no bar, and the final progress as JSON. Proxy
variables are ignored, so the token only ever goes to hlsd. ``reap`` works offline: it
sweeps the work dir named by the config file (``--config``, else ``$HLSD_CONFIG``, else
``config/development.ini``) as a new instance with no live runs, so it kills only tagged
FFmpeg processes whose hlsd is gone and removes only work dirs of dead instances.

Exit codes: 0 done, 1 the server answered with an error, 2 usage or config error,
3 cannot reach the server (refused, timed out, not speaking HTTP). Errors are one line
on stderr.
"""
from __future__ import annotations

import argparse
import configparser
import json
import logging
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import plaster

from actors import ffmpeg
from actors.faults import FAULTS
from actors.settings import SettingsError, parse_settings
from web.routes import FAULTS_PATH, SCAN_PATH, SESSIONS_PATH, TREE_PATH
from web.scripts import scanbar, users
from web.scripts.client import (EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, Client, CommandError)

DEFAULT_URL = "http://127.0.0.1:6543"
DEFAULT_CONFIG = "config/development.ini"
# Bounds every request; a stop may take the server's kill grace plus a few seconds.
DEFAULT_TIMEOUT = 30.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CommandError(EXIT_USAGE, f"{message} (see hlsctl --help)")


def _client(args: argparse.Namespace) -> Client:
    clients = _clients(args)
    if len(clients) > 1:
        raise CommandError(EXIT_USAGE, "this command takes one --url")
    return clients[0]


def _clients(args: argparse.Namespace) -> list[Client]:
    urls = getattr(args, "url", None) or os.environ.get("HLSD_URL", "").split(",")
    urls = [url.strip() for url in urls if url.strip()] or [DEFAULT_URL]
    return [_one_client(args, url) for url in urls]


def _one_client(args: argparse.Namespace, url: str) -> Client:
    url = url.rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(EXIT_USAGE, f"bad URL {url!r}: must be http://HOST:PORT")
    token = getattr(args, "token", None) or os.environ.get("HLSD_TOKEN", "")
    return Client(url, token, getattr(args, "timeout", DEFAULT_TIMEOUT))


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


# --- the commands -------------------------------------------------------------------------

def each_node(args: argparse.Namespace, show: Callable[[Client], tuple[str, Any]]) -> int:
    """``show(client)`` -> (node name, what to print) for every node; one node prints as
    before, several under their names (``--json``: one object by name). A node that fails
    is one line on stderr; the others are still shown; the exit code is the worst one."""
    clients, code, shown = _clients(args), EXIT_OK, {}
    for client in clients:
        try:
            node, value = show(client)
        except CommandError as error:
            print(f"hlsctl: {client.url}: {error}" if len(clients) > 1 else f"hlsctl: {error}",
                  file=sys.stderr)
            code = max(code, error.code)
            continue
        shown[node] = value
    as_json = getattr(args, "json", False)
    if as_json:
        _dump(next(iter(shown.values())) if len(clients) == 1 and shown else shown)
    for node, value in ([] if as_json else shown.items()):
        print(value if len(clients) == 1 else f"== {node}\n{value}")
    return code


def tree(args: argparse.Namespace) -> int:
    def show(client: Client) -> tuple[str, Any]:
        if getattr(args, "json", False):
            answer = client.request("GET", TREE_PATH)
            return answer.node, answer.json()
        answer = client.request("GET", f"{TREE_PATH}?format=text")
        text = answer.json() if answer.content_type == "application/json" else answer.text()
        return answer.node, text.rstrip("\n") if isinstance(text, str) else json.dumps(text, indent=2)
    return each_node(args, show)


def sessions(args: argparse.Namespace) -> int:
    def show(client: Client) -> tuple[str, Any]:
        answer = client.request("GET", SESSIONS_PATH)
        states = answer.json()
        if getattr(args, "json", False):
            return answer.node, states
        if not isinstance(states, list):
            raise CommandError(EXIT_SERVER_ERROR, "the session list is not a JSON list")
        return answer.node, sessions_table(states)
    return each_node(args, show)


def stop(args: argparse.Namespace) -> int:
    session = urllib.parse.quote(args.id, safe="")
    for client in _clients(args):  # nodes that do not run it answer 204 as well
        client.request("DELETE", f"{SESSIONS_PATH}/{session}")
    if getattr(args, "json", False):
        _dump({"stopped": args.id})
    else:
        print(f"stopped session {args.id}: its FFmpeg is gone and its files are deleted")
    return EXIT_OK


def fault(args: argparse.Namespace) -> int:
    body = {"fault": args.kind} if args.id is None else {"fault": args.kind, "session": args.id}
    answer = _client(args).request("POST", FAULTS_PATH, body).json()
    if getattr(args, "json", False):
        _dump(answer)
    elif isinstance(answer, dict):
        print("  ".join(f"{key} {_cell(value)}" for key, value in answer.items()))
    else:
        print(answer)
    return EXIT_OK


def scan(args: argparse.Namespace) -> int:
    client = _client(args)
    before = client.request("POST", SCAN_PATH, {}).json()
    deadline = time.monotonic() + args.wait
    try:
        final = scanbar.follow(lambda: client.request("GET", SCAN_PATH).json(), before,
                               deadline, show=not getattr(args, "json", False))
    except TimeoutError:
        raise CommandError(EXIT_SERVER_ERROR, f"the scan did not finish within {args.wait:g} s") from None
    if getattr(args, "json", False):
        _dump(final)
    else:
        thumbnails = final.get("thumbnails") or {}
        print(f"scanned {_count(final['total'], 'file', 'files')}: {final['indexed']} indexed, "
              f"{final['errors']} errors, thumbnails made for {thumbnails.get('done', 0)} "
              f"({final['elapsed']:.1f} s)")
    return EXIT_OK


def reap(args: argparse.Namespace) -> int:
    config = _config(args)
    settings = load_settings(config)
    instance = f"hlsctl-{secrets.token_hex(4)}"  # never a live hlsd's: none of its runs is live
    started = time.monotonic()
    report = ffmpeg.sweep(settings.work_dir, instance, lambda: (), grace=settings.kill_grace)
    elapsed = time.monotonic() - started
    if getattr(args, "json", False):
        _dump({"config": str(config.resolve()), "work_dir": str(settings.work_dir), "killed": report.killed,
               "dirs_removed": report.dirs_removed, "seconds": round(elapsed, 3)})
    else:
        print(f"swept {settings.work_dir}: "
              f"killed {_count(report.killed, 'orphaned FFmpeg process', 'orphaned FFmpeg processes')}, "
              f"removed {_count(report.dirs_removed, 'leftover work dir', 'leftover work dirs')} "
              f"({elapsed:.2f} s)")
    return EXIT_OK


def _config(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("HLSD_CONFIG") or DEFAULT_CONFIG)


def load_settings(config: Path) -> Any:
    """The ``hls.*`` settings of ``config``'s ``[app:main]``, as hlsd would parse them."""
    try:
        raw = plaster.get_settings(str(config.resolve()), "app:main")
    except (OSError, configparser.Error, plaster.PlasterError) as error:
        raise CommandError(EXIT_USAGE, f"cannot read config {config}: {_one_line(error)}") from None
    if not raw:
        raise CommandError(EXIT_USAGE, f"config {config} has no [app:main] settings")
    try:
        return parse_settings(raw)
    except SettingsError as error:
        raise CommandError(EXIT_USAGE, f"config {config}: {error}") from None


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split())


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# --- the session table --------------------------------------------------------------------

# SESSION is the short id the tree dump and the log name a session by; ID is its token
# (what `hlsctl stop` takes).
COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("SESSION", lambda s: _cell(s.get("short"))),
    ("ID", lambda s: _cell(s.get("id"))),
    ("STATE", lambda s: _cell(s.get("state"))),
    ("PROFILE", lambda s: _cell(s.get("profile"))),
    ("PID", lambda s: _cell(s.get("transcoder_pid"))),
    ("SEGMENTS", lambda s: _segments(s)),
    ("IDLE", lambda s: "-" if s.get("idle") is None else f"{s['idle']:.1f}s"),
    ("RESTARTS", lambda s: _cell(s.get("restarts"))),
    ("MEDIA", lambda s: _cell(s.get("media"))),
)


def sessions_table(states: list[dict[str, Any]]) -> str:
    """One line per session, columns aligned; media last, as it is the longest."""
    if not states:
        return "no sessions"
    rows = [[title for title, _ in COLUMNS]]
    rows += [[cell(state) for _, cell in COLUMNS] for state in states]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
                     for row in rows)


def _segments(state: dict[str, Any]) -> str:
    ready = state.get("segments_ready") or []
    totals = state.get("segments")
    total = totals.get(state.get("profile")) if isinstance(totals, dict) else None
    span = f"{ready[0]}..{ready[-1]}" if ready else "none"
    return span if total is None else f"{span}/{total}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# --- the command line ---------------------------------------------------------------------

def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    # The shared options work before or after the command (SUPPRESS: a sub-command does
    # not overwrite what was given before it).
    http_options = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    http_options.add_argument("--url", action="append",
                              help=f"a node's address, repeated for several (else $HLSD_URL, "
                                   f"comma-separated, else {DEFAULT_URL})")
    http_options.add_argument("--token", help="admin token (else $HLSD_TOKEN)")
    http_options.add_argument("--timeout", type=_positive_seconds,
                              help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})")
    json_option = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    json_option.add_argument("--json", action="store_true", help="print the raw JSON answer")

    parser = _Parser(prog="hlsctl", description="Operate a running hlsd, or clean up after one.",
                     parents=[http_options, json_option],
                     epilog="Exit codes: 0 done, 1 server error, 2 usage or config error, "
                            "3 cannot connect.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str,
                parents: Sequence[argparse.ArgumentParser]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=list(parents))
        sub.set_defaults(handler=handler)
        return sub

    web = (http_options, json_option)
    command("tree", tree, "print the live actor tree", web)
    command("sessions", sessions, "list the sessions", web)
    command("stop", stop, "stop a session: its FFmpeg and files are gone when this returns",
            web).add_argument("id", metavar="ID")
    faults = command("fault", fault, "inject a fault (hls.faults_enabled must be true)", web)
    faults.add_argument("kind", metavar="KIND", choices=FAULTS, help=", ".join(FAULTS))
    faults.add_argument("id", metavar="ID", nargs="?", help="the session (default: any)")
    command("scan", scan, "scan the library now and show its progress", web).add_argument(
        "--wait", type=_positive_seconds, default=3600.0, metavar="S",
        help="give up after S seconds (default 3600)")
    config_option = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    config_option.add_argument("--config", metavar="INI",
                               help=f"hlsd's .ini file (else $HLSD_CONFIG, else {DEFAULT_CONFIG})")
    command("reap", reap, "offline: kill FFmpeg whose hlsd is gone, remove leftover work dirs",
            (json_option, config_option))
    users.register(commands, lambda args: load_settings(_config(args)), [json_option, config_option])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (errors: one line on stderr)."""
    logging.basicConfig(level=logging.WARNING, format="hlsctl: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except CommandError as error:
        print(f"hlsctl: {error}", file=sys.stderr)
        return error.code
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        print("hlsctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
