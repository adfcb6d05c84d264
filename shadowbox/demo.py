"""The demo: a library built from the project's sample_audio/ so a new user sees real results.

Samples are imported with the titles and reps from ``scripts.toml`` (their ground truth)
and transcribed with the embedded model. Running it again adds nothing twice.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .config import Settings
from .errors import ShadowboxError
from .ingest import import_files
from .library import Library
from .models import Call
from .worker import ProgressCallback, Worker

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus"}


@dataclass
class DemoSummary:
    """What building the demo did."""

    imported: int = 0
    transcribed: int = 0
    calls: list[Call] = field(default_factory=list)


def demo_library_path() -> Path:
    """The demo's own library folder, beside the default library in the user data folder."""
    return Path(platformdirs.user_data_dir("shadowbox")) / "demo"


def find_samples(explicit: Path | None = None) -> Path:
    """Locate sample_audio/: the given folder, SHADOWBOX_SAMPLES, the checkout, or the cwd."""
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(explicit)
    if os.environ.get("SHADOWBOX_SAMPLES"):
        candidates.append(Path(os.environ["SHADOWBOX_SAMPLES"]))
    candidates.append(Path(__file__).resolve().parent.parent / "sample_audio")
    candidates.append(Path.cwd() / "sample_audio")
    for c in candidates:
        if c.is_dir() and any(p.suffix.lower() in AUDIO_SUFFIXES for p in c.iterdir()):
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise ShadowboxError(f"Demo: no sample recordings found (looked in {tried}); pass --samples")


def build_demo(
    library: Library,
    settings: Settings,
    samples: Path | None = None,
    *,
    on_progress: ProgressCallback | None = None,
) -> DemoSummary:
    """Import and transcribe every sample recording; returns the demo's calls.

    Args:
        library: the (demo) library to fill.
        settings: model and talk-track settings.
        samples: the sample folder; see :func:`find_samples`.
        on_progress: transcription progress callback.
    """
    folder = find_samples(samples)
    meta: dict[str, dict[str, str]] = {}
    scripts = folder / "scripts.toml"
    if scripts.exists():
        data = tomllib.loads(scripts.read_text(encoding="utf-8"))
        for clip in data.get("clips", []):
            meta[clip["file"]] = clip
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    summary = DemoSummary()
    ids: list[str] = []
    for path in files:
        info = meta.get(path.name, {})
        result = import_files(
            library, [path], settings, consent="written",
            title=info.get("title") or path.stem, rep=info.get("rep"),
        )[0]
        summary.imported += 0 if result.duplicate else 1
        ids.append(result.call.id)
    report = Worker(library, settings, on_progress=on_progress).run(once=True, call_ids=ids)
    summary.transcribed = len(report.done)
    if report.failed:
        call, reason = report.failed[0]
        raise ShadowboxError(f"Demo: transcribing {call.title!r} failed: {reason}")
    summary.calls = [library.get_call(i) for i in ids]
    return summary
