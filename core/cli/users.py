"""`gradsift users add|list|remove|set-role`: the local accounts of a dashboard (core.auth.users).

The users file is `<runs>/users.toml` (mode 0600) unless `--users FILE` names another. A password
is read from stdin (`--password-stdin`, one line) or prompted twice with hidden input; it is
hashed (argon2id) before anything is written and never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.cli.app import DEFAULT_RUNS_DIR, app, console, friendly, out, print_table, table

users_app = typer.Typer(help="Local accounts of the dashboard (users.toml): add, list, remove, set-role.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")

RunsOption = Annotated[Path, typer.Option("--runs", help="Runs directory whose users.toml to use.")]
UsersOption = Annotated[Path | None, typer.Option("--users", help="Users file to use instead of <runs>/users.toml.")]
RoleOption = Annotated[str, typer.Option("--role", help="viewer, annotator, lead or admin (docs/team.md).")]


def _path(runs: Path, users: Path | None) -> Path:
    from core.auth.users import users_file

    return users_file(runs, users)


def _read_password(from_stdin: bool) -> str:
    from core.auth.users import check_password

    if from_stdin:
        return check_password(sys.stdin.readline().rstrip("\r\n"))
    return check_password(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
@friendly
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, '.', '_', '@', '+', '-').")],
    role: RoleOption,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from the first line of stdin.")] = False,
    runs: RunsOption = DEFAULT_RUNS_DIR,
    users: UsersOption = None,
) -> None:
    """Add a user with a role; the password is hashed (argon2id), never stored."""
    from core.auth.roles import check_role
    from core.auth.users import add_user, check_name

    check_name(name)
    check_role(role)
    path = _path(runs, users)
    add_user(path, name, role, _read_password(password_stdin))
    console.print(f"added {name} ({role}) to {path}", highlight=False, markup=False)


@users_app.command("list")
@friendly
def list_users(runs: RunsOption = DEFAULT_RUNS_DIR, users: UsersOption = None) -> None:
    """List the users and their roles (never their password hashes)."""
    from core.auth.users import load_users, loose_permissions

    path = _path(runs, users)
    found = load_users(path)
    if not found:
        console.print(f"no users in {path}; add one with `gradsift users add NAME --role lead`", highlight=False,
                      markup=False)
        return
    if loose_permissions(path):
        console.print(f"warning: {path} is readable by others; run `chmod 600 {path}`", highlight=False, markup=False)
    listing = table(f"users in {path}", ["name", "role", "created"])
    for user in sorted(found.values(), key=lambda u: u.name):
        listing.add_row(user.name, user.role, user.created)
    print_table(listing)


@users_app.command("remove")
@friendly
def remove(name: Annotated[str, typer.Argument(help="User to remove.")], runs: RunsOption = DEFAULT_RUNS_DIR,
           users: UsersOption = None) -> None:
    """Remove a user; their open dashboard sessions end at their next click."""
    from core.auth.users import remove_user

    path = _path(runs, users)
    remove_user(path, name)
    out.print(f"removed {name} from {path}", highlight=False, markup=False)


@users_app.command("set-role")
@friendly
def set_role(name: Annotated[str, typer.Argument(help="User whose role to change.")],
             role: Annotated[str, typer.Argument(help="viewer, annotator, lead or admin.")],
             runs: RunsOption = DEFAULT_RUNS_DIR, users: UsersOption = None) -> None:
    """Change a user's role; their open sessions must sign in again."""
    from core.auth.users import set_role as change_role

    path = _path(runs, users)
    change_role(path, name, role)
    out.print(f"{name} is now {role} in {path}", highlight=False, markup=False)
