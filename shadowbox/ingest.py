"""Importing recordings: probe every file, copy it into the library, record consent, queue it.

Every file is decoded before anything is written; if any file of a batch cannot be read,
nothing is imported and each problem is reported. The same audio imported twice (same
content hash) is recognised and not duplicated.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .audio import CHANNELS, check_path, decode, file_hash
from .config import Settings, validate_consent
from .errors import AudioError, ConsentError, ShadowboxError
from .library import Library, create_private_file, now_iso
from .models import Call, Consent


@dataclass(frozen=True)
class Probe:
    """What we learned about a file before importing it."""

    path: Path
    duration: float
    audio_hash: str


@dataclass(frozen=True)
class ImportResult:
    """One imported file: its call, and whether it was already in the library."""

    path: Path
    call: Call
    duplicate: bool


class ImportRefused(ShadowboxError):
    """One or more files of a batch cannot be imported; ``problems`` has one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def probe(path: Path, channel: str = "mix") -> Probe:
    """Decode a file fully (the only honest test that it is audio) and hash it."""
    check_path(path)
    audio = decode(path, channel)
    return Probe(path=path, duration=audio.duration, audio_hash=file_hash(path))


def resolve_consent(method: str | None, settings: Settings, where: str) -> str:
    """The consent method for a call: the flag, else the configured default, else refuse."""
    chosen = method or settings.consent
    if chosen is None:
        raise ConsentError(
            f"Import of {where} refused: no consent record; pass --consent "
            "verbal|announcement|written or set a default `consent` in the config"
        )
    norm = validate_consent(chosen, "--consent" if method else "the config")
    assert norm is not None
    if settings.require_announcement and norm != "announcement":
        raise ConsentError(
            f"Import of {where} refused: policy requires announcement consent, got {norm!r}"
        )
    return norm


def import_files(
    library: Library,
    paths: Sequence[Path],
    settings: Settings,
    *,
    consent: str | None = None,
    title: str | None = None,
    rep: str | None = None,
    channel: str = "mix",
    queue: bool = True,
) -> list[ImportResult]:
    """Import recordings into the library, all or nothing.

    Args:
        library: the open library.
        paths: audio files (WAV, FLAC, MP3, M4A/AAC, Ogg Vorbis/Opus; any rate and channels).
        settings: supplies the default consent and rep.
        consent: the consent method for these calls (verbal, announcement, written).
        title: the title; defaults to each file's stem (with several files, it prefixes them).
        rep: the rep whose side this is.
        channel: ``mix``, ``left`` or ``right`` for stereo files.
        queue: queue the calls for transcription.
    """
    if not paths:
        raise AudioError("Import: no files given")
    if channel not in CHANNELS:
        raise AudioError(f"Channel {channel!r}: choose one of {', '.join(CHANNELS)}")
    method = resolve_consent(consent, settings, ", ".join(str(p) for p in paths))
    probes: list[Probe] = []
    problems: list[str] = []
    for path in paths:
        try:
            probes.append(probe(Path(path), channel))
        except ShadowboxError as exc:
            problems.append(str(exc))
    if problems:
        raise ImportRefused(problems)
    results: list[ImportResult] = []
    seen: dict[str, Call] = {}
    for p in probes:
        existing = seen.get(p.audio_hash) or library.call_by_hash(p.audio_hash)
        if existing is not None:
            results.append(ImportResult(p.path, existing, duplicate=True))
            continue
        call_title = title if title and len(probes) == 1 else (
            f"{title} - {p.path.stem}" if title else p.path.stem
        )
        call = _store(library, p, call_title, rep or settings.rep, method, channel, queue)
        seen[p.audio_hash] = call
        results.append(ImportResult(p.path, call, duplicate=False))
    return results


def _store(
    library: Library, p: Probe, title: str, rep: str | None, method: str, channel: str,
    queue: bool,
) -> Call:
    call_id = str(uuid.uuid4())
    suffix = p.path.suffix.lower() or ".audio"
    relative = f"audio/{call_id}{suffix}"
    target = library.root / relative
    partial = target.with_name(target.name + ".part")
    fd = create_private_file(partial)
    try:
        with os.fdopen(fd, "wb") as out, p.path.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
        recorded = datetime.fromtimestamp(p.path.stat().st_mtime, UTC).isoformat(
            timespec="seconds"
        )
        return library.add_call(
            call_id=call_id, title=title, audio_path=relative, audio_hash=p.audio_hash,
            duration=p.duration, rep=rep, recorded_at=recorded, source=p.path.name,
            channel=channel,
            consent=Consent(method=method, given_at=now_iso(), given_by=rep,
                            note="declared at import"),
            queue=queue,
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
