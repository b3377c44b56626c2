"""Generated one-time passwords meet the policy the user's own passwords must meet."""

from __future__ import annotations

from guetteur.security.credentials import check_password_policy, new_one_time_password


def test_a_generated_one_time_password_never_holds_the_user_name() -> None:
    # A one-letter name turns up in about half of all random draws; "ops" in one in
    # a thousand, which once failed a whole module of tests at setup.
    for name in ("a", "Q", "ops"):
        for _ in range(200):
            password = new_one_time_password(name)
            check_password_policy(name, password)
            assert name.casefold() not in password.casefold()
            assert len(password) == 20
