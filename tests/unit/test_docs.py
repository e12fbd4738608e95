"""The README documents every setting and every command (documentation is tested)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from invalidator.cli.main import cli
from invalidator.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")


def _commands(group: click.Group, prefix: str) -> list[str]:
    found: list[str] = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(_commands(command, full))
        else:
            found.append(full)
    return found


def test_every_setting_is_in_the_configuration_table() -> None:
    """Each Settings field appears with its file key, environment variable and flag."""
    for field in dataclasses.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        row = f"| `{field.name}` | `INVALIDATOR_{field.name.upper()}` | `{flag}` |"
        assert row in README, f"README lacks the configuration row for {field.name}"


def test_every_command_is_documented() -> None:
    """Each CLI command (and subcommand) is named in the README."""
    commands = _commands(cli, "invalidator")
    assert "invalidator serve" in commands and "invalidator edges list" in commands
    for command in commands:
        assert f"`{command}" in README, f"README does not document {command}"


def test_readme_opens_with_the_two_commands() -> None:
    """The first two code blocks run the service and run the tests."""
    blocks = README.split("```")[1::2]
    assert "invalidator serve" in blocks[0]
    assert "scripts/test" in blocks[1]
