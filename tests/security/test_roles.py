"""Roles and names: who may change clearances, who may take another's view (issue 9, 11)."""

from __future__ import annotations

import pytest

from guetteur._exceptions import PermissionDeniedError, UserNameError
from guetteur.security.markings import parse_clearance
from guetteur.security.roles import check_user_name
from guetteur.workspace import Workspace

CTS = parse_clearance("COSMIC TOP SECRET", "LUX")


def test_first_user_is_a_security_officer_and_others_are_not(workspace: Workspace) -> None:
    roles = {u.name: u.role for u in workspace.users(workspace.user())}
    assert roles == {"ops": "security_officer", "lux_nr": "analyst", "deu_nc": "analyst"}
    # Others see only themselves.
    assert [u.name for u in workspace.users(workspace.user("lux_nr"))] == ["lux_nr"]


def test_a_restricted_user_cannot_raise_their_own_clearance(workspace: Workspace) -> None:
    # Finding 11: a NATO RESTRICTED user could `users add` themselves as CTS.
    nr = workspace.user("lux_nr")
    with pytest.raises(PermissionDeniedError, match="security officer"):
        workspace.add_user("lux_cts", CTS, nr)
    with pytest.raises(PermissionDeniedError, match="security officer"):
        workspace.set_user(nr, "lux_nr", CTS, "analyst")
    with pytest.raises(PermissionDeniedError, match="security officer"):
        workspace.set_user(nr, "deu_nc", parse_clearance("NU", "DEU"), "reader")
    assert workspace.user("lux_nr").clearance.level.name == "RESTRICTED"


def test_nobody_changes_their_own_clearance(workspace: Workspace) -> None:
    ops = workspace.user()
    with pytest.raises(PermissionDeniedError, match="own clearance"):
        workspace.set_user(ops, "ops", CTS, "security_officer")
    changed = workspace.set_user(ops, "lux_nr", parse_clearance("NC", "LUX"), "reader")
    assert (changed.clearance.level.name, changed.role) == ("CONFIDENTIAL", "reader")
    assert [r.detail["user"] for r in workspace.store.audit_rows() if r.action == "user.set"] == [
        "lux_nr"
    ]


def test_adding_an_existing_user_is_refused(workspace: Workspace) -> None:
    with pytest.raises(UserNameError, match="too close"):
        workspace.add_user("lux_nr", CTS, workspace.user())


def test_only_a_security_officer_operator_may_act_as_another_user(
    workspace: Workspace,
) -> None:
    assert workspace.user("lux_nr").name == "lux_nr"
    (row,) = [r for r in workspace.store.audit_rows() if r.action == "act_as"]
    assert row.detail == {"operator": "ops", "user": "lux_nr"}
    # A workspace whose operator is an analyst cannot use --as at all.
    ops = workspace.user()
    workspace.set_user(
        workspace.add_user("second_so", CTS, ops, "security_officer"),
        "ops",
        ops.clearance,
        "analyst",
    )
    with pytest.raises(PermissionDeniedError, match="--as"):
        workspace.user("lux_nr")


def test_readers_read_and_do_not_write(workspace: Workspace) -> None:
    reader = workspace.add_user("reader1", parse_clearance("NS", "FRA"), workspace.user(), "reader")
    with pytest.raises(PermissionDeniedError, match="analyst"):
        workspace.ingest(reader, [], source="x")
    with pytest.raises(PermissionDeniedError, match="analyst"):
        workspace.watch_add(reader, "w", "convoys near Valga")
    assert workspace.stats(reader).documents == 0


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ops\u200b",  # zero-width space
        "\x1b[31mops",  # ANSI escape
        "op s",
        "l\u202eux",  # right-to-left override
        "x" * 65,
    ],
)
def test_unprintable_and_invisible_names_are_refused(name: str) -> None:
    with pytest.raises(UserNameError):
        check_user_name(name, [])


@pytest.mark.parametrize("name", ["OPS", "оps", "Ops", "o_ps", "0ps", "ｏｐｓ"])
def test_look_alike_names_are_refused(name: str) -> None:
    with pytest.raises(UserNameError, match="too close"):
        check_user_name(name, ["ops"])


def test_names_are_nfkc_normalised() -> None:
    assert check_user_name("ﬁona", []) == "fiona"
    assert check_user_name("Jérôme", ["jerome_b"]) == "Jérôme"
