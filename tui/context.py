"""What every screen shares: the settings, per-thread library connections and the taxonomy.

sqlite3 connections must stay in the thread that opened them, and the TUI reads the
library from thread workers, so each worker thread gets its own :class:`Library` from a
:class:`LibraryPool` (Textual runs thread workers on a small reused pool of threads).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shadowbox.config import Settings, taxonomy_files
from shadowbox.library import Library

if TYPE_CHECKING:
    from shadowbox.objections import Taxonomy


class LibraryPool:
    """Hands each thread its own open :class:`Library` on the same folder."""

    def __init__(self, root: Path) -> None:
        """Remember the folder; nothing is opened until a thread asks."""
        self.root = root
        self._local = threading.local()

    def get(self) -> Library:
        """The calling thread's library connection, opened (and migrated) on first use."""
        library: Library | None = getattr(self._local, "library", None)
        if library is None:
            library = Library.open(self.root)
            self._local.library = library
        return library

    def close_current(self) -> None:
        """Close the calling thread's connection, if it has one."""
        library: Library | None = getattr(self._local, "library", None)
        if library is not None:
            library.close()
            self._local.library = None


@dataclass
class AppContext:
    """Settings and shared resources handed to every screen by the app."""

    settings: Settings
    output_device: int | str | None = None
    """The sounddevice output for playback (None: the system default)."""
    input_device: int | str | None = None
    """The sounddevice input for recording (None: the system default)."""
    transcribe: bool = True
    """Transcribe queued calls in the background while the app is open."""
    pool: LibraryPool = field(init=False)
    _taxonomy: Taxonomy | None = field(default=None, init=False)
    _taxonomy_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.pool = LibraryPool(self.settings.library)

    @property
    def library(self) -> Library:
        """This thread's library connection (call it from thread workers only)."""
        return self.pool.get()

    @property
    def taxonomy(self) -> Taxonomy:
        """The objection taxonomy in force, loaded once (from a worker: files are read)."""
        from shadowbox.objections import load_taxonomy

        with self._taxonomy_lock:
            if self._taxonomy is None:
                # Only the categories are shown here (the worker compiles the patterns).
                self._taxonomy = load_taxonomy(taxonomy_files(self.settings), check=False)
            return self._taxonomy
