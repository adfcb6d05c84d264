"""Write docs/cli.md from the commands' own --help, so the reference never drifts from the code.

Run `.venv/bin/python scripts/cli_docs.py`; tests/test_docs.py fails when the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from shadowbox.cli import cli

TARGET = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _walk(command: click.Command, path: list[str]) -> list[tuple[str, str]]:
    ctx = click.Context(command, info_name=" ".join(path), terminal_width=100)
    # Context.command_path joins parent names; give it the full path directly.
    out = [(" ".join(path), command.get_help(ctx))]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += _walk(sub, [*path, name])
    return out


def render() -> str:
    """The whole reference as Markdown."""
    parts = [
        "# Command reference",
        "",
        "Generated from `--help` by `scripts/cli_docs.py`; do not edit by hand.",
        "",
    ]
    for name, text in _walk(cli, ["shadowbox"]):
        parts += [f"## `{name}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}", file=sys.stderr)
