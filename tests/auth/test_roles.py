"""The permission table: which role may take which action, and the one-line refusal."""

from __future__ import annotations

import pytest

from core.auth.roles import (
    ACTIONS,
    LOCAL_OPERATOR,
    VISITOR,
    Actor,
    PermissionDenied,
    allowed,
    require,
)
from core.errors import ConfigError, GradsiftError

# Written out by hand from the roles' definitions (issue 21), not derived from ACTIONS.
EXPECTED = {
    "viewer": {"read"},
    "annotator": {"read", "record_review", "rerank", "find_conflicts"},
    "lead": {"read", "record_review", "rerank", "find_conflicts", "adjudicate", "set_overlap", "set_gold",
             "launch_analysis", "retrain", "export"},
    "admin": {"read", "record_review", "rerank", "find_conflicts", "adjudicate", "set_overlap", "set_gold",
              "launch_analysis", "retrain", "export", "manage_users"},
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_may_take_exactly_its_actions(role):
    actor = Actor("someone", role)
    assert {action for action in ACTIONS if allowed(actor, action)} == EXPECTED[role]
    assert set(ACTIONS.names()) == EXPECTED["admin"]  # a new action must be added to this table too


def test_require_returns_the_actor_or_refuses_in_one_line():
    lead = Actor("ada", "lead")
    assert require(lead, "retrain") is lead
    with pytest.raises(PermissionDenied) as refused:
        require(Actor("bob", "annotator"), "export")
    message = str(refused.value)
    assert "\n" not in message and "bob (annotator)" in message and "lead, admin" in message
    assert isinstance(refused.value, GradsiftError)


def test_viewers_write_nothing_and_a_missing_actor_is_refused():
    for action in ACTIONS:
        if action != "read":
            with pytest.raises(PermissionDenied):
                require(VISITOR, action)
    with pytest.raises(PermissionDenied, match="signed-in"):
        require(None, "record_review")


def test_the_local_operator_has_every_right():
    assert all(allowed(LOCAL_OPERATOR, action) for action in ACTIONS)


def test_unknown_actions_and_roles_are_errors_not_silent_answers():
    with pytest.raises(ConfigError, match="unknown action 'fly'"):
        allowed(LOCAL_OPERATOR, "fly")
    with pytest.raises(GradsiftError, match="valid roles: viewer, annotator, lead, admin"):
        Actor("x", "owner")
    with pytest.raises(GradsiftError):
        Actor(" ", "viewer")
