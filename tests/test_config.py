"""Settings: file, then environment, then flags; bad values are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shadowbox.cli import cli
from shadowbox.config import Settings, load_settings, taxonomy_files
from shadowbox.errors import ConfigError


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('pause_seconds = 2.0\nrep = "Dana"\nlibrary = "~/calls"\n')
    s = load_settings(config, env={"SHADOWBOX_REP": "Sam"})
    assert s.pause_seconds == 2.0
    assert s.rep == "Sam"
    assert s.library == Path.home() / "calls"
    assert s.with_overrides(rep="Ana", library=None).rep == "Ana"
    assert s.with_overrides(library=None).library == Path.home() / "calls"


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "none.toml", env={}) == Settings()


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("colour = 1\n", {}, "unknown setting 'colour'"),
        ("pause_seconds = \n", {}, "c.toml"),
        ("", {"SHADOWBOX_PAUSE_SECONDS": "soon"}, "SHADOWBOX_PAUSE_SECONDS"),
        ("", {"SHADOWBOX_REQUIRE_ANNOUNCEMENT": "maybe"}, "expected true or false"),
        ('consent = "nod"\n', {}, "Consent method 'nod'"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path: Path, text: str, env: dict[str, str],
                                       message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env=env)


def test_bad_settings_file_fails_the_cli_in_one_line(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text("colour = 1\n")
    monkeypatch.setenv("SHADOWBOX_CONFIG", str(config))
    result = CliRunner().invoke(cli, ["--library", str(tmp_path / "lib"), "calls"])
    assert result.exit_code == 1
    assert "unknown setting 'colour'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_library_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHADOWBOX_LIBRARY", str(tmp_path / "envlib"))
    result = CliRunner().invoke(cli, ["calls", "--json"])
    assert result.exit_code == 0 and result.stdout.strip() == "[]"
    assert (tmp_path / "envlib" / "library.db").exists()


def test_taxonomy_files_layer_user_then_library(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "objections.toml").write_text("")
    user = tmp_path / "mine.toml"
    user.write_text("")
    assert taxonomy_files(Settings(library=lib, taxonomy_file=user)) == [
        user, lib / "objections.toml",
    ]
