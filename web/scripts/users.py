"""``hlsctl users``: the accounts of ``hls.auth = accounts`` (SPEC "Accounts").

    hlsctl users add NAME [--admin] [--folders A,B] [--max-sessions N] [--config INI]
    hlsctl users passwd NAME | remove NAME | key NAME | list [--config INI] [--json]

They work on the users file the config names (``Settings.users_path``) directly, with
hlsd running or not: a running hlsd sees a change within ``actors.accounts.CACHE_SECONDS``
(a removed user's cookies, API key and session tokens stop, and their sessions with them).
A password is read from stdin, one line, when stdin is not a terminal; else asked twice.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any, Callable

from actors.accounts import Accounts, User
from actors.errors import HlsError
from web.scripts.client import EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, CommandError

LoadSettings = Callable[[argparse.Namespace], Any]


def register(commands: Any, load_settings: LoadSettings,
             parents: list[argparse.ArgumentParser]) -> None:
    """Add ``users`` and its sub-commands to hlsctl's ``commands``."""
    users = commands.add_parser("users", help="manage the accounts (hls.auth = accounts)",
                                description="Manage the accounts in hlsd's users file.")
    actions = users.add_subparsers(title="actions", metavar="ACTION", required=True)

    def action(name: str, run: Callable[[Accounts, argparse.Namespace], int], help: str,
               takes_name: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help, parents=parents)
        if takes_name:
            sub.add_argument("name", metavar="NAME")
        sub.set_defaults(handler=lambda args: _with_store(load_settings, args, run))
        return sub

    add = action("add", _add, "add a user (the password from stdin)")
    add.add_argument("--admin", action="store_true", help="may use the operator routes")
    add.add_argument("--folders", metavar="A,B", help="the library folders they see (default all)")
    add.add_argument("--max-sessions", type=int, metavar="N", help="sessions at once (default: no own bound)")
    action("passwd", _passwd, "set a new password (signs them out everywhere)")
    action("remove", _remove, "remove a user: signed out, sessions stopped")
    action("key", _key, "make a new API key for scripts (the old one stops)")
    action("list", _list, "list the users", takes_name=False)


def _with_store(load_settings: LoadSettings, args: argparse.Namespace,
                run: Callable[[Accounts, argparse.Namespace], int]) -> int:
    settings = load_settings(args)
    if not settings.accounts:
        print(f"hlsctl: note: hls.auth is {settings.auth!r}; these users count once it is"
              " 'accounts'", file=sys.stderr)
    store = Accounts(Path(settings.users_path))
    try:
        return run(store, args)
    except HlsError as error:
        raise CommandError(EXIT_SERVER_ERROR if error.code == "not_found" else EXIT_USAGE,
                           error.detail) from None
    finally:
        store.close()


def _add(store: Accounts, args: argparse.Namespace) -> int:
    folders = None if args.folders is None else args.folders.split(",")
    user = store.add(args.name, read_password(), "admin" if args.admin else "viewer",
                     folders, args.max_sessions)
    print(f"added {describe(user)}")
    return EXIT_OK


def _passwd(store: Accounts, args: argparse.Namespace) -> int:
    if store.user(args.name) is None:
        raise CommandError(EXIT_SERVER_ERROR, f"no user {args.name}")
    store.set_password(args.name, read_password())
    print(f"new password for {args.name}; their sign-ins and sessions have ended")
    return EXIT_OK


def _remove(store: Accounts, args: argparse.Namespace) -> int:
    store.remove(args.name)
    print(f"removed {args.name}")
    return EXIT_OK


def _key(store: Accounts, args: argparse.Namespace) -> int:
    print(store.new_key(args.name))  # shown once: only its digest is kept
    return EXIT_OK


def _list(store: Accounts, args: argparse.Namespace) -> int:
    users = store.users()
    if getattr(args, "json", False):
        print(json.dumps([{"name": u.name, "role": u.role, "folders": u.folders,
                           "max_sessions": u.max_sessions} for u in users], indent=2))
    else:
        print("\n".join(describe(user) for user in users) or "no users")
    return EXIT_OK


def describe(user: User) -> str:
    folders = "all folders" if user.folders is None else "folders " + ",".join(user.folders)
    bound = "" if user.max_sessions is None else f", at most {user.max_sessions} sessions"
    return f"{user.name} ({user.role}, {folders}{bound})"


def read_password() -> str:
    """One line of stdin when it is not a terminal; else asked twice, without echo."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise CommandError(EXIT_USAGE, "no password on stdin")
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandError(EXIT_USAGE, "the two passwords differ")
    return first
