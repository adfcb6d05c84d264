"""The CLI reference in docs/ is generated from --help and must match the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == module.render(), "run .venv/bin/python scripts/cli_docs.py"


def test_every_command_has_help() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in ("import", "transcribe", "calls", "show", "search", "objections", "export",
                 "demo", "tui"):
        assert f"## `shadowbox {name}`" in text
