"""Who may do what: the four roles, the actions they may take, and the one check every write calls.

Roles are ordered by trust, but rights are not inferred from the order: each action names
the roles allowed to take it in `ACTIONS` (a registry, so adding an action is one line).

    viewer     reads every view, writes nothing (the public demo role)
    annotator  decides on samples (reviews), re-ranks with them, searches near-duplicates
    lead       also adjudicates, sets overlap and gold samples, launches analyses, retrains, exports
    admin      every right, managing users included

The check lives where the write happens (core), never only in a page: `require(actor, action)`
raises `PermissionDenied` with one line a person can act on. The store of review decisions
calls `require(actor, "record_review")` before it writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError, GradsiftError
from core.registry import Registry

VIEWER, ANNOTATOR, LEAD, ADMIN = "viewer", "annotator", "lead", "admin"
ROLES: dict[str, str] = {
    VIEWER: "reads every view, writes nothing (the public demo role)",
    ANNOTATOR: "decides on samples (confirm, relabel, keep), re-ranks with the decisions",
    LEAD: "adjudicates, sets overlap and gold samples, launches analyses, retrains and exports",
    ADMIN: "manages users; has every right",
}
"""Role name → what it is for, from the least to the most trusted."""

_REVIEWERS = (ANNOTATOR, LEAD, ADMIN)
_LEADS = (LEAD, ADMIN)

ACTIONS: Registry[None] = Registry("action")
"""Action name → help line, with meta `roles`: the roles allowed to take it."""
ACTIONS.add("read", "open runs and every view", roles=(VIEWER, *_REVIEWERS))
ACTIONS.add("record_review", "confirm, relabel, keep or clear a decision on a sample", roles=_REVIEWERS)
ACTIONS.add("rerank", "re-rank the unreviewed samples with the decisions so far", roles=_REVIEWERS)
ACTIONS.add("find_conflicts", "search near-duplicates with different labels", roles=_REVIEWERS)
ACTIONS.add("adjudicate", "settle disagreeing decisions of several annotators", roles=_LEADS)
ACTIONS.add("set_overlap", "choose how many annotators see each sample", roles=_LEADS)
ACTIONS.add("set_gold", "mark gold samples whose answer is known", roles=_LEADS)
ACTIONS.add("launch_analysis", "start a new analysis", roles=_LEADS)
ACTIONS.add("retrain", "retrain without the flagged samples", roles=_LEADS)
ACTIONS.add("export", "download or save reviews, cleaned manifests and exports", roles=_LEADS)
ACTIONS.add("manage_users", "add, remove and change the role of users", roles=(ADMIN,))


class PermissionDenied(GradsiftError):
    """An actor tried an action their role does not allow; the message names both and who may."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a name (recorded with what they write) and a role (what they may do)."""

    name: str
    role: str

    def __post_init__(self) -> None:
        check_role(self.role)
        if not self.name or not self.name.strip():
            raise GradsiftError("an actor needs a name")

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


def check_role(role: str) -> str:
    """`role` when it is one of ROLES, else a one-line GradsiftError listing them."""
    if role not in ROLES:
        raise GradsiftError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    return role


LOCAL_OPERATOR = Actor("local", ADMIN)
"""The person at the command line, or the single local user of a loopback dashboard without users."""
VISITOR = Actor("visitor", VIEWER)
"""Whoever opens a `--read-only` dashboard: reads everything, writes nothing."""


def roles_for(action: str) -> tuple[str, ...]:
    """The roles allowed to take `action` (an unknown action is a one-line error, not a silent yes)."""
    return tuple(ACTIONS.entry(action).meta["roles"])


def allowed(actor: Actor, action: str) -> bool:
    """True when `actor`'s role may take `action` (for greying out buttons; writes call `require`)."""
    return actor.role in roles_for(action)


def require(actor: Actor | None, action: str) -> Actor:
    """Return `actor` when it may take `action`; raise PermissionDenied (one line) otherwise.

    Every write calls this first, with the actor the dashboard or the command line passes.
    A missing actor is refused: a write without someone behind it is a bug, not a right.
    """
    permitted = roles_for(action)
    if actor is None:
        raise PermissionDenied(f"{action.replace('_', ' ')} needs a signed-in user")
    if actor.role not in permitted:
        raise PermissionDenied(f"{actor.name} ({actor.role}) may not {ACTIONS.help(action)}; "
                               f"allowed roles: {', '.join(permitted)}")
    return actor


def acting(who: Actor | str | None, action: str) -> str:
    """The name to record for `who` taking `action`, checked here, where the write happens.

    An `Actor` (what the dashboard passes) must be allowed to take `action` (`require`: PermissionDenied,
    nothing written). A plain name is the local operator's (a notebook, the command line, a loopback
    dashboard without users), who has every right: `ReviewStore(run).record(ids, action, "ana")` keeps working.
    """
    if isinstance(who, Actor):
        return require(who, action).name
    if not who or not str(who).strip():
        noun = "reviewer" if action == "record_review" else "lead"
        raise ConfigError(f"{action.replace('_', ' ')} needs the {noun}'s name")
    return str(who).strip()
