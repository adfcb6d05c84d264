"""Settings: declared once, read from a TOML file, then SHADOWBOX_* environment, then flags.

The library location comes from ``--library``, ``SHADOWBOX_LIBRARY`` or the platform's
user data folder, in that order.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from .errors import ConfigError

APP_NAME = "shadowbox"
CONSENT_METHODS = ("verbal", "announcement", "written")


@dataclass(frozen=True)
class Settings:
    """Every setting Shadowbox reads; each field says what it changes."""

    library: Path = field(
        default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)) / "library"
    )
    """Folder holding library.db and audio/ (``--library``, SHADOWBOX_LIBRARY)."""

    consent: str | None = None
    """Default consent method for imports and recordings: verbal, announcement or written."""

    require_announcement: bool = False
    """Policy for all-party-consent jurisdictions: only ``announcement`` consent is accepted."""

    announcement_file: Path | None = None
    """Audio file played as the consent notice instead of the one shipped with the package."""

    model: str = "embedded"
    """Speech model: ``embedded`` (tiny.en from PyPI), a size name, or a CTranslate2 folder."""

    beam_size: int = 5
    """Beam width for decoding; 5 (Whisper's own default) gives the lowest word error rate,
    and two parallel lanes pay for it (benchmarks/transcription.py)."""

    cpu_threads: int = 2
    """Threads for the speech model (the TUI uses fewer so the screen stays responsive)."""

    pause_seconds: float = 1.2
    """A silence at least this long ends a talk track (it is usually the other party talking)."""

    min_track_seconds: float = 3.0
    """Talk tracks shorter than this are merged into a neighbour."""

    taxonomy_file: Path | None = None
    """A TOML file that adds or changes objection categories."""

    rep: str | None = None
    """Default rep name stored with recordings and imports."""

    def with_overrides(self, **values: Any) -> Settings:
        """Return a copy with the given non-None values replaced (flags win over file and env)."""
        clean = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **clean)


def user_config_path() -> Path:
    """Where the user's settings file lives unless SHADOWBOX_CONFIG names another."""
    env = os.environ.get("SHADOWBOX_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def _coerce(name: str, raw: Any, source: str) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    kind = str(kinds[name])
    try:
        if "Path" in kind:
            return Path(os.path.expanduser(str(raw))) if raw not in (None, "") else None
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Setting {name!r} from {source}: {exc}") from None


def load_settings(config_file: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build Settings from the TOML file and SHADOWBOX_* variables (later sources win).

    Args:
        config_file: the settings file; defaults to :func:`user_config_path`. A missing file is
            fine, an unreadable or invalid one is a ConfigError.
        env: environment to read (defaults to ``os.environ``); tests pass their own.
    """
    env = dict(os.environ) if env is None else env
    path = config_file or user_config_path()
    values: dict[str, Any] = {}
    names = {f.name for f in fields(Settings)}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Settings file {path}: {exc}") from None
        for key, raw in data.items():
            if key not in names:
                raise ConfigError(
                    f"Settings file {path}: unknown setting {key!r} "
                    f"(known: {', '.join(sorted(names))})"
                )
            values[key] = _coerce(key, raw, str(path))
    for name in names:
        raw = env.get(f"SHADOWBOX_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, f"SHADOWBOX_{name.upper()}")
    settings = Settings(**values)
    validate_consent(settings.consent, "the default consent setting", allow_none=True)
    return settings


def validate_consent(method: str | None, where: str, *, allow_none: bool = False) -> str | None:
    """Check a consent method name; returns it normalised to lower case.

    Args:
        method: the name given by a user, file or flag.
        where: how to name its source in the error message.
        allow_none: whether "no method" is acceptable here.
    """
    if method is None:
        if allow_none:
            return None
        raise ConfigError(f"No consent method in {where}")
    norm = method.strip().lower()
    if norm not in CONSENT_METHODS:
        raise ConfigError(
            f"Consent method {method!r} in {where} is not one of {', '.join(CONSENT_METHODS)}"
        )
    return norm


def taxonomy_files(settings: Settings) -> list[Path]:
    """Objection files layered over the packaged taxonomy: the user's, then the library's.

    The library's own ``objections.toml`` wins, so a team can share one taxonomy with its
    library; ``taxonomy_file`` in the settings names the user's (else the config folder's).
    """
    files: list[Path] = []
    user = settings.taxonomy_file or user_config_path().parent / "objections.toml"
    if user.exists() or settings.taxonomy_file is not None:
        files.append(user)
    library_file = settings.library / "objections.toml"
    if library_file.exists():
        files.append(library_file)
    return files
