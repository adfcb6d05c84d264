"""Shared fixtures: an isolated environment per test, fresh libraries, and one real model.

Tests never read the developer's config or home: SHADOWBOX_CONFIG points at a missing file
and the XDG folders at the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shadowbox.config import Settings
from shadowbox.library import Library

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real user's settings, library and home folder."""
    monkeypatch.setenv("SHADOWBOX_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in list(os.environ):
        if name.startswith("SHADOWBOX_") and name != "SHADOWBOX_CONFIG":
            monkeypatch.delenv(name)


@pytest.fixture
def lib_path(tmp_path: Path) -> Path:
    """Where a test's library lives (not created yet)."""
    return tmp_path / "lib"


@pytest.fixture
def library(lib_path: Path) -> Iterator[Library]:
    """A fresh, empty library."""
    lib = Library.open(lib_path)
    yield lib
    lib.close()


@pytest.fixture
def settings(lib_path: Path) -> Settings:
    """Default settings pointing at the test's library."""
    return Settings(library=lib_path)


@dataclass(frozen=True)
class Clip:
    """A sample clip and its ground truth from sample_audio/scripts.toml."""

    path: Path
    title: str
    rep: str
    expected_words: tuple[str, ...]
    turns: tuple[tuple[str, frozenset[str]], ...]


def sample_clips() -> list[Clip]:
    """Every clip of sample_audio with its script."""
    data = tomllib.loads((SAMPLES / "scripts.toml").read_text(encoding="utf-8"))
    return [
        Clip(
            path=SAMPLES / c["file"],
            title=c["title"],
            rep=c["rep"],
            expected_words=tuple(c.get("expected_words", ())),
            turns=tuple((t["text"], frozenset(t["objections"])) for t in c["turns"]),
        )
        for c in data["clips"]
    ]


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library with every sample clip imported and transcribed by the real model (built once).

    Tests that change a library copy it first (see ``demo_copy``).
    """
    from shadowbox.demo import build_demo

    root = tmp_path_factory.mktemp("demo") / "lib"
    settings = Settings(library=root)
    with Library.open(root) as lib:
        build_demo(lib, settings, SAMPLES)
    return root


@pytest.fixture
def demo_copy(demo_library: Path, tmp_path: Path) -> Path:
    """A private copy of the demo library that a test may change."""
    target = tmp_path / "demo-copy"
    shutil.copytree(demo_library, target)
    return target
