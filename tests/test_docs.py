"""The README documents every command and setting a user can meet."""

from __future__ import annotations

import click

from guetteur.cli import main

from conftest import REPO


def commands(group: click.Group, prefix: str = "guetteur") -> list[str]:
    found: list[str] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(commands(command, path))
        else:
            found.append(path)
    return found


def test_every_command_and_option_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [c for c in commands(main) if c not in readme]
    assert not missing, f"undocumented commands: {missing}"
    for group_or_command in commands(main):
        *_, name = group_or_command.split(" ", 1)
        command = main
        for part in name.split():
            command = command.commands[part]  # type: ignore[attr-defined]
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("--") and option != "--help":
                    assert option in readme, f"{group_or_command}: option {option} undocumented"


def test_settings_are_documented() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for setting in ("GUETTEUR_HOME", "--home", "make demo", "make test"):
        assert setting in readme
