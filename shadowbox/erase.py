"""Erasure: forget a call for good (consent withdrawn): its audio, its rows, and its words' bytes.

Deleting rows is not enough. SQLite leaves a deleted row's text in freed pages, FTS5 keeps
a deleted document's tokens in its index until the index is optimized, and the WAL keeps
old copies of pages until it is checkpointed and truncated. So forgetting a call deletes
its audio files (overwritten first) and every row that belongs to it in one transaction
(with secure_delete on), then optimizes the search index, VACUUMs the database and
truncates the WAL. Only the call's random id is kept, so that a bundle made before the
erasure cannot bring the call back.

Out of reach: copies outside the library (bundles and exports already handed out, backups,
and blocks a copy-on-write or flash file system keeps after an overwrite).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LibraryError, NotFoundError
from .library import Library


@dataclass(frozen=True)
class ForgetReport:
    """What forgetting a call did, and whether the database files were fully scrubbed."""

    call_id: str
    title: str | None
    files_removed: tuple[Path, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)
    scrubbed: bool = True
    already_forgotten: bool = False
    seconds: float = 0.0


def _overwrite_and_remove(path: Path) -> None:
    """Overwrite a file with zeros, flush it to disk, then unlink it.

    On a journaling or copy-on-write file system old blocks may survive the overwrite; it
    still keeps the voice out of the library folder's free space on plain ext4 and the like.
    """
    try:
        size = path.stat().st_size
        with path.open("r+b") as fh:
            block = b"\0" * (1 << 20)
            left = size
            while left > 0:
                n = min(left, len(block))
                fh.write(block[:n])
                left -= n
            fh.flush()
            os.fsync(fh.fileno())
    except FileNotFoundError:
        return
    path.unlink(missing_ok=True)


def _call_files(library: Library, call_id: str, audio_path: str | None) -> list[Path]:
    files = set(library.audio_dir.glob(f"{call_id}*"))
    if audio_path:
        files.add(library.root / audio_path)
    return sorted(p for p in files if p.is_file() or p.is_symlink())


def forget_call(library: Library, ref: str) -> ForgetReport:
    """Erase a call: audio, rows (transcript, talk tracks, tags, consent, markers, jobs,
    collection items), index entries, and every trace of its words in the database files.

    Forgetting a call already forgotten (by its full id or a 4+ character prefix) scrubs the
    files again, which finishes an erasure that another open program kept from completing.

    Args:
        library: the open library.
        ref: the call's id, id prefix or title.

    Returns a report; ``scrubbed`` is False when another connection kept the WAL from being
    truncated (the rows are gone, but run it again once that program has closed).
    """
    began = time.monotonic()
    try:
        call = library.get_call(ref)
    except NotFoundError:
        gone = library.forgotten_like(ref)
        if len(gone) != 1:
            raise
        removed = _call_files(library, gone[0], None)
        for path in removed:
            _overwrite_and_remove(path)
        scrubbed = library.scrub()
        return ForgetReport(
            call_id=gone[0], title=None, files_removed=tuple(removed), scrubbed=scrubbed,
            already_forgotten=True, seconds=time.monotonic() - began,
        )
    files = _call_files(library, call.id, call.audio_path)
    for path in files:
        try:
            _overwrite_and_remove(path)
        except OSError as exc:
            raise LibraryError(
                f"Forget {call.id[:8]} {call.title!r}: could not erase {path} "
                f"({exc.strerror or exc}); the call is still listed: fix that and run forget again"
            ) from None
    rows = library.forget_call_rows(call.id)
    scrubbed = library.scrub()
    return ForgetReport(
        call_id=call.id, title=call.title, files_removed=tuple(files), rows=rows,
        scrubbed=scrubbed, seconds=time.monotonic() - began,
    )
