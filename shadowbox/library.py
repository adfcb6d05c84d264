"""The library store: one folder with ``library.db`` (SQLite via sqlite-utils) and ``audio/``.

Every SQL statement Shadowbox runs lives here, so a second store (PostgreSQL and object
storage for teams) can sit behind the same methods. Writes run in ``BEGIN IMMEDIATE``; the
schema carries a version and only ever migrates forward; a newer database is refused untouched.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import LibraryError, NotFoundError, SchemaTooNewError
from .models import Call, Consent, Hit, Job, Marker, Segment, Tag, TalkTrack, Word

DB_NAME = "library.db"
AUDIO_DIR = "audio"
SCHEMA_VERSION = 2
LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 3
# bm25 ranks only the newest RANK_WINDOW matches: its cost grows with the window (about 4 us
# a row), and 1000 keeps a keystroke's search under 20 ms on 1M segments.
RANK_WINDOW = 1000
# bm25 also weighs each phrase by reading every row that holds it (tens of ms for a word in a
# third of all segments, and for a phrase made of such words). A phrase whose newest
# COMMON_PROBE matches are denser than COMMON_SHARE of all segments makes the search list
# newest first instead, as one or two typed characters do.
COMMON_SHARE = 0.05
COMMON_PROBE = 32
_PHRASE_RE = re.compile(r'"(?:[^"]|"")*"\*?')

_SCHEMA_V1 = """
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    rep TEXT,
    account TEXT,
    recorded_at TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    duration REAL,
    audio_path TEXT NOT NULL,
    audio_hash TEXT NOT NULL UNIQUE,
    source TEXT,
    channel TEXT NOT NULL DEFAULT 'mix',
    status TEXT NOT NULL DEFAULT 'queued',
    recovered INTEGER NOT NULL DEFAULT 0,
    dropped_samples INTEGER NOT NULL DEFAULT 0,
    model TEXT
);
CREATE INDEX calls_recorded_at ON calls(recorded_at);
CREATE TABLE consents (
    call_id TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    method TEXT NOT NULL CHECK (method IN ('verbal', 'announcement', 'written')),
    given_at TEXT NOT NULL,
    given_by TEXT,
    announcement_played INTEGER NOT NULL DEFAULT 0,
    note TEXT
);
CREATE TABLE markers (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    label TEXT
);
CREATE INDEX markers_call ON markers(call_id, at);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires REAL,
    progress REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_call ON jobs(call_id);
CREATE TABLE talk_tracks (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    text TEXT NOT NULL,
    objections TEXT NOT NULL DEFAULT '',
    note TEXT
);
CREATE INDEX talk_tracks_call ON talk_tracks(call_id, idx);
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    track_id INTEGER REFERENCES talk_tracks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    text TEXT NOT NULL,
    confidence REAL,
    words TEXT NOT NULL DEFAULT '[]',
    objections TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX segments_call ON segments(call_id, idx);
CREATE INDEX segments_track ON segments(track_id);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    track_id INTEGER REFERENCES talk_tracks(id) ON DELETE SET NULL,
    track_start REAL NOT NULL,
    track_end REAL NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('objection', 'custom')),
    value TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('auto', 'person')),
    confidence REAL,
    reason TEXT,
    removed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX tags_track ON tags(track_id);
CREATE INDEX tags_call ON tags(call_id);
CREATE TABLE track_labels (
    track_id INTEGER NOT NULL REFERENCES talk_tracks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (kind, value, track_id)
) WITHOUT ROWID;
CREATE INDEX track_labels_track ON track_labels(track_id);
CREATE VIRTUAL TABLE segments_fts USING fts5(
    text, objections, tags,
    content='segments', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2', prefix='1 2 3'
);
CREATE TRIGGER segments_ai AFTER INSERT ON segments BEGIN
    INSERT INTO segments_fts (rowid, text, objections, tags)
    VALUES (new.id, new.text, new.objections, new.tags);
END;
CREATE TRIGGER segments_ad AFTER DELETE ON segments BEGIN
    INSERT INTO segments_fts (segments_fts, rowid, text, objections, tags)
    VALUES ('delete', old.id, old.text, old.objections, old.tags);
END;
CREATE TRIGGER segments_au AFTER UPDATE ON segments BEGIN
    INSERT INTO segments_fts (segments_fts, rowid, text, objections, tags)
    VALUES ('delete', old.id, old.text, old.objections, old.tags);
    INSERT INTO segments_fts (rowid, text, objections, tags)
    VALUES (new.id, new.text, new.objections, new.tags);
END;
"""

# Version 2: curated collections and their ordered items (a talk track or a time range of a
# call, with a curator's note), the library's own stable id (bundles name where they came
# from), and the ids of forgotten calls (a bundle must not bring an erased call back).
_SCHEMA_V2 = """
CREATE TABLE library_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO library_info (key, value) VALUES ('library_id', lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
    || '-' || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(2)), 2)
    || '-' || hex(randomblob(6))
));
CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT,
    curator TEXT,
    origin TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE collection_items (
    id TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    track_id INTEGER REFERENCES talk_tracks(id) ON DELETE SET NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL CHECK ("end" > start),
    note TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX collection_items_order ON collection_items(collection_id, position);
CREATE INDEX collection_items_call ON collection_items(call_id);
CREATE INDEX collection_items_track ON collection_items(track_id);
CREATE TABLE forgotten_calls (
    call_id TEXT PRIMARY KEY,
    forgotten_at TEXT NOT NULL
);
"""

# Forward migrations: MIGRATIONS[n] takes a database at version n to n + 1.
MIGRATIONS: dict[int, str] = {0: _SCHEMA_V1, 1: _SCHEMA_V2}


def now_iso() -> str:
    """The current UTC time as ISO 8601 text (what every timestamp column holds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def create_private_file(path: Path) -> int:
    """Create ``path`` exclusively with mode 0600 whatever the umask; returns the descriptor.

    Recordings are of customers, so every file Shadowbox writes is owner-only.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    return fd


@dataclass(frozen=True)
class NewSegment:
    """A segment about to be stored, with the index of the talk track it belongs to."""

    segment: Segment
    track_index: int


@dataclass(frozen=True)
class NewTrack:
    """A talk track about to be stored, with the automatic objection tags it was given."""

    index: int
    start: float
    end: float
    text: str
    auto_tags: tuple[Tag, ...] = ()


class Library:
    """A Shadowbox library folder: open it, read it, and write to it in short transactions."""

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        """Use :meth:`open`; this wraps an already-migrated connection."""
        self.root = root
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, root: Path, *, create: bool = True) -> Library:
        """Open (and, if allowed, create) the library at ``root``, migrating it forward.

        Args:
            root: the library folder.
            create: when False a missing library is a LibraryError rather than made.
        """
        root = Path(root).expanduser()
        db_path = root / DB_NAME
        if root.exists() and not root.is_dir():
            raise LibraryError(f"Library {root}: not a folder")
        if not db_path.exists():
            if not create:
                raise LibraryError(f"Library {root}: no library here (import a call first)")
            try:
                _private_dir(root)
                _private_dir(root / AUDIO_DIR)
                os.close(create_private_file(db_path))
            except FileExistsError:
                pass
            except OSError as exc:
                raise LibraryError(f"Library {root}: cannot create it ({exc.strerror})") from None
        else:
            _private_dir(root / AUDIO_DIR)
        try:
            conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"Library {db_path}: not a Shadowbox database ({exc})") from None
        lib = cls(root, conn)
        lib._migrate()
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            p = root / name
            if p.exists() and stat.S_IMODE(p.stat().st_mode) != 0o600:
                os.chmod(p, 0o600)
        return lib

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The schema version stored in the database (PRAGMA user_version)."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"Library {self.root / DB_NAME}: schema version {version} was written by a newer "
                f"Shadowbox (this one knows up to {SCHEMA_VERSION}); upgrade Shadowbox to open it"
            )
        while version < SCHEMA_VERSION:
            with self.write():
                # Re-read inside the lock: another process may have migrated meanwhile.
                version = self.schema_version
                if version >= SCHEMA_VERSION:
                    break
                for statement in _split_sql(MIGRATIONS[version]):
                    self.conn.execute(statement)
                version += 1
                self.conn.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): all of it lands or none of it does."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @property
    def audio_dir(self) -> Path:
        """Where the library keeps its recordings."""
        return self.root / AUDIO_DIR

    def audio_file(self, call: Call) -> Path:
        """The absolute path of a call's audio."""
        return self.root / call.audio_path

    # ------------------------------------------------------------------ calls

    def add_call(
        self,
        *,
        call_id: str,
        title: str,
        audio_path: str,
        audio_hash: str,
        duration: float | None,
        consent: Consent,
        rep: str | None = None,
        account: str | None = None,
        recorded_at: str | None = None,
        source: str | None = None,
        channel: str = "mix",
        status: str = "queued",
        recovered: bool = False,
        dropped_samples: int = 0,
        markers: Sequence[Marker] = (),
        queue: bool = True,
    ) -> Call:
        """Store a new call with its consent and markers, and queue its transcription.

        All rows land in one transaction. ``audio_path`` is relative to the library folder.
        """
        stamp = now_iso()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO calls (id, title, rep, account, recorded_at, imported_at, duration,"
                " audio_path, audio_hash, source, channel, status, recovered, dropped_samples)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call_id, title, rep, account, recorded_at or stamp, stamp, duration,
                    audio_path, audio_hash, source, channel, status, int(recovered),
                    dropped_samples,
                ),
            )
            conn.execute(
                "INSERT INTO consents (call_id, method, given_at, given_by, announcement_played,"
                " note) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    call_id, consent.method, consent.given_at, consent.given_by,
                    int(consent.announcement_played), consent.note,
                ),
            )
            conn.executemany(
                "INSERT INTO markers (call_id, at, label) VALUES (?, ?, ?)",
                [(call_id, m.at, m.label) for m in markers],
            )
            if queue:
                self._enqueue(conn, call_id, stamp)
        return self.get_call(call_id)

    def call_by_hash(self, audio_hash: str) -> Call | None:
        """The call holding exactly this audio, if any (imports are not duplicated)."""
        row = self.conn.execute(
            f"{_CALL_SELECT} WHERE c.audio_hash = ?", (audio_hash,)
        ).fetchone()
        return _call(row) if row else None

    def get_call(self, ref: str) -> Call:
        """Find a call by id, unique id prefix (4+ characters) or exact title.

        Raises NotFoundError naming what was asked for.
        """
        row = self.conn.execute(f"{_CALL_SELECT} WHERE c.id = ?", (ref,)).fetchone()
        if row:
            return _call(row)
        rows: list[sqlite3.Row] = []
        if len(ref) >= 4:
            rows = self.conn.execute(
                f"{_CALL_SELECT} WHERE c.id LIKE ? ESCAPE '\\' LIMIT 2",
                (_like_prefix(ref),),
            ).fetchall()
        if not rows:
            rows = self.conn.execute(
                f"{_CALL_SELECT} WHERE c.title = ? COLLATE NOCASE LIMIT 2", (ref,)
            ).fetchall()
        if len(rows) == 1:
            return _call(rows[0])
        if len(rows) > 1:
            raise NotFoundError(f"Call {ref!r}: more than one call matches; give more of its id")
        raise NotFoundError(f"Call {ref!r}: no such call in {self.root} (see `shadowbox calls`)")

    def list_calls(self, *, limit: int | None = None, offset: int = 0) -> list[Call]:
        """Calls newest first, with their transcription progress."""
        sql = f"{_CALL_SELECT} ORDER BY c.recorded_at DESC, c.rowid DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = (limit, offset)
        return [_call(r) for r in self.conn.execute(sql, params)]

    def count_calls(self) -> int:
        """How many calls the library holds."""
        return int(self.conn.execute("SELECT count(*) FROM calls").fetchone()[0])

    def consent(self, call_id: str) -> Consent:
        """The consent record of a call."""
        row = self.conn.execute(
            "SELECT method, given_at, given_by, announcement_played, note FROM consents"
            " WHERE call_id = ?",
            (call_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"Call {call_id}: no consent record")
        return Consent(
            method=row["method"], given_at=row["given_at"], given_by=row["given_by"],
            announcement_played=bool(row["announcement_played"]), note=row["note"],
        )

    def markers(self, call_id: str) -> list[Marker]:
        """The bookmarks dropped while the call was recorded, in time order."""
        return [
            Marker(at=r["at"], label=r["label"])
            for r in self.conn.execute(
                "SELECT at, label FROM markers WHERE call_id = ? ORDER BY at", (call_id,)
            )
        ]

    # ------------------------------------------------------------------ jobs

    def _enqueue(self, conn: sqlite3.Connection, call_id: str, stamp: str) -> None:
        conn.execute(
            "INSERT INTO jobs (call_id, status, created_at, updated_at) VALUES (?, 'queued', ?, ?)",
            (call_id, stamp, stamp),
        )
        conn.execute("UPDATE calls SET status = 'queued' WHERE id = ?", (call_id,))

    def enqueue(self, call_id: str) -> None:
        """Queue (again) a call's transcription unless a job for it is already waiting."""
        with self.write() as conn:
            busy = conn.execute(
                "SELECT 1 FROM jobs WHERE call_id = ? AND status IN ('queued', 'running')",
                (call_id,),
            ).fetchone()
            if not busy:
                self._enqueue(conn, call_id, now_iso())

    def claim_job(
        self, owner: str, *, lease_seconds: float = LEASE_SECONDS, call_ids: Sequence[str] = ()
    ) -> Job | None:
        """Lease the oldest runnable job to ``owner``.

        A job is runnable when queued, or when running under a lease that has expired (its
        worker died). A job that has been tried MAX_ATTEMPTS times fails instead of looping.

        Args:
            owner: a name unique to this worker (host, pid and a random part).
            lease_seconds: how long the lease lasts unless renewed.
            call_ids: when given, only jobs of these calls are considered.
        """
        now = time.time()
        where = "(status = 'queued' OR (status = 'running' AND lease_expires < ?))"
        params: list[Any] = [now]
        if call_ids:
            where += f" AND call_id IN ({','.join('?' * len(call_ids))})"
            params.extend(call_ids)
        with self.write() as conn:
            while True:
                row = conn.execute(
                    f"SELECT * FROM jobs WHERE {where} ORDER BY id LIMIT 1", params
                ).fetchone()
                if row is None:
                    return None
                if row["attempts"] >= MAX_ATTEMPTS:
                    reason = row["last_error"] or "the worker stopped while transcribing it"
                    self._fail(conn, row["id"], row["call_id"], f"gave up after "
                               f"{row['attempts']} attempts: {reason}")
                    continue
                conn.execute(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
                    " lease_owner = ?, lease_expires = ?, progress = 0, updated_at = ?"
                    " WHERE id = ?",
                    (owner, now + lease_seconds, now_iso(), row["id"]),
                )
                conn.execute(
                    "UPDATE calls SET status = 'transcribing' WHERE id = ?", (row["call_id"],)
                )
                return self._job(row["id"])

    def _job(self, job_id: int) -> Job:
        row = self.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(
            id=row["id"], call_id=row["call_id"], status=row["status"],
            attempts=row["attempts"], lease_owner=row["lease_owner"],
            lease_expires=row["lease_expires"], last_error=row["last_error"],
        )

    def renew_lease(
        self, job: Job, progress: float, *, lease_seconds: float = LEASE_SECONDS
    ) -> bool:
        """Extend the lease and record progress (0..1); False if the job was taken from us."""
        with self.write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET lease_expires = ?, progress = ?, updated_at = ?"
                " WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (time.time() + lease_seconds, progress, now_iso(), job.id, job.lease_owner),
            )
            return cur.rowcount == 1

    def _fail(self, conn: sqlite3.Connection, job_id: int, call_id: str, reason: str) -> None:
        conn.execute(
            "UPDATE jobs SET status = 'failed', last_error = ?, lease_owner = NULL,"
            " updated_at = ? WHERE id = ?",
            (reason, now_iso(), job_id),
        )
        conn.execute("UPDATE calls SET status = 'failed' WHERE id = ?", (call_id,))

    def fail_job(self, job: Job, reason: str) -> None:
        """Mark a job failed with a readable reason; other jobs are unaffected."""
        with self.write() as conn:
            self._fail(conn, job.id, job.call_id, reason)

    def release_job(self, job: Job) -> None:
        """Give a job back to the queue (the worker is stopping before it finished)."""
        with self.write() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL,"
                " attempts = max(attempts - 1, 0), updated_at = ? WHERE id = ? AND lease_owner = ?",
                (now_iso(), job.id, job.lease_owner),
            )
            conn.execute("UPDATE calls SET status = 'queued' WHERE id = ?", (job.call_id,))

    def queued_jobs(self) -> list[Job]:
        """Jobs waiting or running, oldest first."""
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY id"
            )
        ]
        return [self._job(i) for i in ids]

    def complete_job(
        self,
        job: Job,
        *,
        duration: float | None,
        model: str,
        segments: Sequence[NewSegment],
        tracks: Sequence[NewTrack],
    ) -> bool:
        """Replace a call's transcript with a new one, all in one transaction.

        A person's tags survive: they are kept by time range and re-attached to the new talk
        track that overlaps them most. Returns False (and writes nothing) if the lease was lost.
        """
        with self.write() as conn:
            owner = conn.execute(
                "SELECT lease_owner, status FROM jobs WHERE id = ?", (job.id,)
            ).fetchone()
            if owner is None or owner["lease_owner"] != job.lease_owner:
                return False
            call_id = job.call_id
            conn.execute("DELETE FROM segments WHERE call_id = ?", (call_id,))
            conn.execute(
                "DELETE FROM tags WHERE call_id = ? AND source = 'auto'", (call_id,)
            )
            # Notes are a person's work: keep them by time range, like a person's tags.
            notes = conn.execute(
                'SELECT start, "end", note FROM talk_tracks WHERE call_id = ?'
                " AND note IS NOT NULL",
                (call_id,),
            ).fetchall()
            conn.execute("DELETE FROM talk_tracks WHERE call_id = ?", (call_id,))
            track_ids: dict[int, int] = {}
            for track in tracks:
                cur = conn.execute(
                    'INSERT INTO talk_tracks (uuid, call_id, idx, start, "end", text)'
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        track_uuid(call_id, track.start), call_id, track.index, track.start,
                        track.end, track.text,
                    ),
                )
                track_id = int(cur.lastrowid or 0)
                track_ids[track.index] = track_id
                stamp = now_iso()
                conn.executemany(
                    "INSERT INTO tags (call_id, track_id, track_start, track_end, kind, value,"
                    " source, confidence, reason, removed, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'auto', ?, ?, 0, ?)",
                    [
                        (call_id, track_id, track.start, track.end, t.kind, t.value,
                         t.confidence, t.reason, stamp)
                        for t in track.auto_tags
                    ],
                )
            conn.executemany(
                'INSERT INTO segments (call_id, track_id, idx, start, "end", text, confidence,'
                " words) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        call_id, track_ids.get(s.track_index), i, s.segment.start,
                        s.segment.end, s.segment.text, s.segment.confidence,
                        _words_json(s.segment.words),
                    )
                    for i, s in enumerate(segments)
                ],
            )
            self._reattach_person_tags(conn, call_id)
            if notes:
                new_tracks = conn.execute(
                    'SELECT id, start, "end" FROM talk_tracks WHERE call_id = ?', (call_id,)
                ).fetchall()
                for n in notes:
                    best = _best_overlap(n["start"], n["end"], new_tracks)
                    if best is not None:
                        conn.execute(
                            "UPDATE talk_tracks SET note = coalesce(note || char(10), '') || ?"
                            " WHERE id = ?",
                            (n["note"], best),
                        )
            for track_id in track_ids.values():
                self._refresh_labels(conn, track_id)
            conn.execute(
                "UPDATE calls SET status = 'ready', duration = coalesce(?, duration), model = ?"
                " WHERE id = ?",
                (duration, model, call_id),
            )
            conn.execute(
                "UPDATE jobs SET status = 'done', progress = 1, lease_owner = NULL,"
                " last_error = NULL, updated_at = ? WHERE id = ?",
                (now_iso(), job.id),
            )
        return True

    def _reattach_person_tags(self, conn: sqlite3.Connection, call_id: str) -> None:
        rows = conn.execute(
            "SELECT id, track_start, track_end FROM tags WHERE call_id = ? AND source = 'person'",
            (call_id,),
        ).fetchall()
        if not rows:
            return
        tracks = conn.execute(
            'SELECT id, start, "end", note FROM talk_tracks WHERE call_id = ?', (call_id,)
        ).fetchall()
        for row in rows:
            best = _best_overlap(row["track_start"], row["track_end"], tracks)
            conn.execute("UPDATE tags SET track_id = ? WHERE id = ?", (best, row["id"]))

    # ------------------------------------------------------------------ transcript

    def talk_tracks(self, call_id: str) -> list[TalkTrack]:
        """A call's talk tracks in order, each with its effective objections and tags."""
        rows = self.conn.execute(
            'SELECT id, uuid, call_id, idx, start, "end", text, objections, note'
            " FROM talk_tracks WHERE call_id = ? ORDER BY idx",
            (call_id,),
        ).fetchall()
        tags = self._tags_for(call_id)
        return [_track(r, tags.get(r["id"], ())) for r in rows]

    def talk_track(self, track_id: int) -> TalkTrack:
        """One talk track by its id; NotFoundError if there is none."""
        row = self.conn.execute(
            'SELECT id, uuid, call_id, idx, start, "end", text, objections, note'
            " FROM talk_tracks WHERE id = ?",
            (track_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"Talk track {track_id}: no such talk track")
        return _track(row, self._tags_for(row["call_id"]).get(track_id, ()))

    def _tags_for(self, call_id: str) -> dict[int, tuple[Tag, ...]]:
        out: dict[int, list[Tag]] = {}
        for r in self.conn.execute(
            "SELECT track_id, kind, value, source, confidence, reason, removed FROM tags"
            " WHERE call_id = ? ORDER BY source DESC, confidence DESC, id",
            (call_id,),
        ):
            out.setdefault(r["track_id"], []).append(
                Tag(
                    kind=r["kind"], value=r["value"], source=r["source"],
                    confidence=r["confidence"], reason=r["reason"], removed=bool(r["removed"]),
                )
            )
        return {k: tuple(v) for k, v in out.items()}

    def segments(self, call_id: str) -> list[Segment]:
        """A call's transcript segments in time order, with word timings."""
        return [
            Segment(
                id=r["id"], track_id=r["track_id"], start=r["start"], end=r["end"],
                text=r["text"], confidence=r["confidence"] or 0.0,
                words=tuple(Word(*w) for w in json.loads(r["words"])),
            )
            for r in self.conn.execute(
                'SELECT id, track_id, start, "end", text, confidence, words FROM segments'
                " WHERE call_id = ? ORDER BY idx",
                (call_id,),
            )
        ]

    # ------------------------------------------------------------------ tags

    def set_tag(
        self, track_id: int, kind: str, value: str, *, present: bool, reason: str | None = None
    ) -> TalkTrack:
        """Record a person's decision that a track has (or has not) a tag.

        A person's decision overrides the tagger's and survives re-transcription.
        """
        track = self.talk_track(track_id)
        value = value.strip()
        if not value:
            raise NotFoundError("Tag: empty tag name")
        with self.write() as conn:
            conn.execute(
                "DELETE FROM tags WHERE track_id = ? AND kind = ? AND value = ? COLLATE NOCASE"
                " AND source = 'person'",
                (track_id, kind, value),
            )
            conn.execute(
                "INSERT INTO tags (call_id, track_id, track_start, track_end, kind, value,"
                " source, confidence, reason, removed, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'person', 1.0, ?, ?, ?)",
                (
                    track.call_id, track_id, track.start, track.end, kind, value,
                    reason or "set by a person", int(not present), now_iso(),
                ),
            )
            self._refresh_labels(conn, track_id)
        return self.talk_track(track_id)

    def set_note(self, track_id: int, note: str | None) -> TalkTrack:
        """Store a free-text note on a talk track (None clears it)."""
        self.talk_track(track_id)
        with self.write() as conn:
            conn.execute("UPDATE talk_tracks SET note = ? WHERE id = ?", (note, track_id))
        return self.talk_track(track_id)

    def _refresh_labels(self, conn: sqlite3.Connection, track_id: int) -> None:
        """Recompute a track's effective labels (person over auto) and its search columns."""
        effective: dict[tuple[str, str], bool] = {}
        rows = conn.execute(
            "SELECT kind, value, source, removed FROM tags WHERE track_id = ?"
            " ORDER BY source = 'person', id",
            (track_id,),
        ).fetchall()
        for r in rows:
            effective[(r["kind"], r["value"].lower())] = not r["removed"]
        labels = sorted(k for k, on in effective.items() if on)
        conn.execute("DELETE FROM track_labels WHERE track_id = ?", (track_id,))
        conn.executemany(
            "INSERT INTO track_labels (track_id, kind, value) VALUES (?, ?, ?)",
            [(track_id, k, v) for k, v in labels],
        )
        objections = " ".join(v for k, v in labels if k == "objection")
        custom = " ".join(v for k, v in labels if k == "custom")
        conn.execute("UPDATE talk_tracks SET objections = ? WHERE id = ?", (objections, track_id))
        conn.execute(
            "UPDATE segments SET objections = ?, tags = ? WHERE track_id = ?"
            " AND (objections != ? OR tags != ?)",
            (objections, custom, track_id, objections, custom),
        )

    def label_counts(self, kind: str = "objection") -> dict[str, int]:
        """How many talk tracks carry each label: the counts beside the search facets."""
        return {
            r[0]: r[1]
            for r in self.conn.execute(
                "SELECT value, count(*) FROM track_labels WHERE kind = ? GROUP BY value"
                " ORDER BY count(*) DESC",
                (kind,),
            )
        }

    # ------------------------------------------------------------------ search

    def search(
        self,
        match: str | None,
        *,
        objections: Sequence[str] = (),
        reps: Sequence[str] = (),
        tags: Sequence[str] = (),
        newest_first: bool = False,
        limit: int = 20,
        collections: Sequence[str] = (),
    ) -> list[Hit]:
        """Run a search: an FTS5 MATCH expression (or None) plus filters, best hits first.

        With a MATCH expression, hits are segments ranked by bm25 among the newest
        RANK_WINDOW matches (or newest first when ``newest_first``). Without one, hits are
        whole talk tracks that pass the filters, newest first.

        Args:
            match: an FTS5 expression from :func:`shadowbox.query.to_fts5`, never raw user text.
            objections: objection ids; a hit must carry one of them.
            reps: rep names (case-insensitive); a hit's call must be by one of them.
            tags: custom tag names; a hit must carry one of them.
            newest_first: skip ranking (used for one or two typed characters).
            limit: the most hits to return.
            collections: collection ids; a hit must lie in an item of one of them.
        """
        if match is None:
            return self._filter_only(objections, reps, tags, limit, collections)
        parts = [f"({match})"]
        for column, values in (("objections", objections), ("tags", tags)):
            if values:
                alts = " OR ".join(_fts_quote(v) for v in values)
                parts.append(f"{column} : ({alts})")
        expr = " AND ".join(parts)
        rep_sql, rep_params = _in_nocase("c.rep", reps)
        join = (
            "JOIN segments s ON s.id = f.rowid JOIN calls c ON c.id = s.call_id"
            if reps or collections else ""
        )
        rep_where = f" AND {rep_sql}" if reps else ""
        if collections:
            rep_where += " AND " + self._in_collections_sql("s", len(collections))
            rep_params = [*rep_params, *collections]
        columns = (
            "snippet(segments_fts, 0, '[', ']', '…', 12) AS snip,"
            ' s.call_id, s.track_id, s.start, s."end", s.text, s.objections, c.title, c.rep'
            " FROM segments_fts f JOIN segments s ON s.id = f.rowid"
            " JOIN calls c ON c.id = s.call_id"
        )
        try:
            if not newest_first and self._has_common_phrase(match):
                newest_first = True
            if newest_first:
                # One statement: FTS5 walks rowids newest first and stops at LIMIT, so
                # snippet() runs for the returned rows only.
                rows = self.conn.execute(
                    f"SELECT f.rowid AS id, 0.0 AS score, {columns}"
                    f" WHERE segments_fts MATCH ?{rep_where} ORDER BY f.rowid DESC LIMIT ?",
                    [expr, *rep_params, limit],
                ).fetchall()
                order = {r["id"]: (i, 0.0) for i, r in enumerate(rows)}
            else:
                top = self.conn.execute(
                    "SELECT id, score FROM (SELECT f.rowid AS id,"
                    " bm25(segments_fts, 10.0, 1.0, 1.0) AS score"
                    f" FROM segments_fts f {join} WHERE segments_fts MATCH ?{rep_where}"
                    " ORDER BY f.rowid DESC LIMIT ?) ORDER BY score LIMIT ?",
                    [expr, *rep_params, RANK_WINDOW, limit],
                ).fetchall()
                if not top:
                    return []
                order = {r["id"]: (i, r["score"]) for i, r in enumerate(top)}
                ids = list(order)
                # One FTS5 scan over the hits' rowid range: `rowid IN (...)` alone runs the
                # MATCH once per id, re-merging a 4+ letter prefix's doclists each time; the
                # unary + keeps IN out of the index choice.
                rows = self.conn.execute(
                    f"SELECT f.rowid AS id, {columns}"
                    " WHERE segments_fts MATCH ? AND f.rowid BETWEEN ? AND ?"
                    f" AND +f.rowid IN ({','.join('?' * len(ids))})",
                    [expr, min(ids), max(ids), *ids],
                ).fetchall()
        except sqlite3.OperationalError as exc:
            raise LibraryError(f"Search {match!r}: the index refused it ({exc})") from None
        hits = [
            Hit(
                call_id=r["call_id"], title=r["title"], start=r["start"], end=r["end"],
                text=r["text"], snippet=r["snip"], objections=tuple(r["objections"].split()),
                track_id=r["track_id"], segment_id=r["id"], rep=r["rep"],
                score=order[r["id"]][1],
            )
            for r in rows
        ]
        hits.sort(key=lambda h: order[h.segment_id][0] if h.segment_id is not None else 0)
        return hits

    def _has_common_phrase(self, match: str) -> bool:
        """True when a phrase of ``match`` (or a word of a phrase) is in many segments.

        Estimated from how densely its newest COMMON_PROBE matches sit among all rowids,
        which costs well under a millisecond where counting them would not.
        """
        top = self.conn.execute("SELECT max(id) FROM segments").fetchone()[0] or 0
        phrases = list(dict.fromkeys(_PHRASE_RE.findall(match)))
        for phrase in list(phrases):
            words = phrase.rstrip("*").strip('"').split()
            if len(words) > 1:
                phrases.extend(f'"{w}"' for w in words)
        for phrase in phrases:
            rows = self.conn.execute(
                "SELECT rowid FROM segments_fts WHERE segments_fts MATCH ?"
                " ORDER BY rowid DESC LIMIT ?",
                ("{text} : " + phrase, COMMON_PROBE),
            ).fetchall()
            if len(rows) == COMMON_PROBE and COMMON_PROBE / (top - rows[-1][0] + 1) > COMMON_SHARE:
                return True
        return False

    def _filter_only(
        self,
        objections: Sequence[str],
        reps: Sequence[str],
        tags: Sequence[str],
        limit: int,
        collections: Sequence[str] = (),
    ) -> list[Hit]:
        where: list[str] = []
        params: list[Any] = []
        for kind, values in (("objection", objections), ("custom", tags)):
            if values:
                marks = ",".join("?" * len(values))
                where.append(
                    f"t.id IN (SELECT track_id FROM track_labels WHERE kind = ?"
                    f" AND value IN ({marks}))"
                )
                params.extend([kind, *values])
        if reps:
            sql, rep_params = _in_nocase("c.rep", reps)
            where.append(sql)
            params.extend(rep_params)
        if collections:
            where.append(self._in_collections_sql("t", len(collections)))
            params.extend(collections)
        clause = " AND ".join(where) if where else "1"
        rows = self.conn.execute(
            'SELECT t.id, t.call_id, t.start, t."end", t.text, t.objections, c.title, c.rep'
            f" FROM talk_tracks t JOIN calls c ON c.id = t.call_id WHERE {clause}"
            " ORDER BY c.recorded_at DESC, t.idx LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [
            Hit(
                call_id=r["call_id"], title=r["title"], start=r["start"], end=r["end"],
                text=r["text"], snippet=_shorten(r["text"]),
                objections=tuple(r["objections"].split()), track_id=r["id"], rep=r["rep"],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ bulk

    def insert_synthetic(
        self, calls: Iterable[dict[str, Any]], segments: Iterable[dict[str, Any]]
    ) -> None:
        """Bulk-load prepared rows in one transaction (benchmarks build big libraries with it)."""
        with self.write():
            self.db.table("calls").insert_all(calls, batch_size=1000)
            self.db.table("segments").insert_all(segments, batch_size=5000)

    # ---- collections
    # Curated collections and their items, the library's own id, the calls that bundles bring
    # in, and erasure. The logic lives in shadowbox.collections, .bundle and .erase.

    _COLLECTION_SELECT = (
        'SELECT c.*, count(i.id) AS n_items, coalesce(sum(i."end" - i.start), 0) AS seconds'
        " FROM collections c LEFT JOIN collection_items i ON i.collection_id = c.id"
    )
    _ITEM_SELECT = (
        "SELECT i.*, c.title, c.rep, t.text AS track_text, t.objections AS track_objections"
        " FROM collection_items i JOIN calls c ON c.id = i.call_id"
        " LEFT JOIN talk_tracks t ON t.id = i.track_id"
    )

    def library_id(self) -> str:
        """This library's stable id (made by the v2 migration); bundles name their origin by it."""
        row = self.conn.execute(
            "SELECT value FROM library_info WHERE key = 'library_id'"
        ).fetchone()
        if row is None:
            raise LibraryError(f"Library {self.root}: it has no library id (damaged database)")
        return str(row[0])

    def collection(self, ref: str) -> Collection:
        """A collection by id, name (any case) or unique id prefix (4+ characters).

        Raises NotFoundError naming what was asked for.
        """
        group = " GROUP BY c.id"
        for where in ("c.id = ?", "c.name = ?"):
            row = self.conn.execute(
                f"{self._COLLECTION_SELECT} WHERE {where}{group}", (ref,)
            ).fetchone()
            if row is not None:
                return self._collection_from_row(row)
        if len(ref) >= 4:
            rows = self.conn.execute(
                f"{self._COLLECTION_SELECT} WHERE c.id LIKE ? ESCAPE '\\'{group} LIMIT 2",
                (_like_prefix(ref),),
            ).fetchall()
            if len(rows) == 1:
                return self._collection_from_row(rows[0])
            if len(rows) > 1:
                raise NotFoundError(
                    f"Collection {ref!r}: more than one collection matches; give more of its id"
                )
        raise NotFoundError(
            f"Collection {ref!r}: no such collection (see `shadowbox collection list`)"
        )

    def collection_by_id(self, collection_id: str) -> Collection | None:
        """The collection with exactly this id, or None (bundle import merges by id)."""
        row = self.conn.execute(
            f"{self._COLLECTION_SELECT} WHERE c.id = ? GROUP BY c.id", (collection_id,)
        ).fetchone()
        return self._collection_from_row(row) if row else None

    def collection_name_taken(self, name: str) -> bool:
        """Whether a collection already has this name (names are unique, case aside)."""
        row = self.conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone()
        return row is not None

    def list_collections(self) -> list[Collection]:
        """Every collection, by name, with its item count and total length."""
        return [
            self._collection_from_row(r)
            for r in self.conn.execute(
                f"{self._COLLECTION_SELECT} GROUP BY c.id ORDER BY c.name COLLATE NOCASE"
            )
        ]

    def create_collection(
        self,
        *,
        collection_id: str,
        name: str,
        description: str | None = None,
        curator: str | None = None,
        origin: str | None = None,
        created_at: str | None = None,
    ) -> Collection:
        """Store a new, empty collection.

        Args:
            collection_id: its stable id (a UUID), kept when the collection travels in a bundle.
            name: unique in the library, compared without case.
            description: what the collection teaches.
            curator: who put it together.
            origin: the id of the library it was first made in (default: this one).
            created_at: when it was first made (default: now).
        """
        stamp = now_iso()
        try:
            with self.write() as conn:
                conn.execute(
                    "INSERT INTO collections (id, name, description, curator, origin,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        collection_id, name, description, curator,
                        origin or self.library_id(), created_at or stamp, stamp,
                    ),
                )
        except sqlite3.IntegrityError:
            raise LibraryError(
                f"Collection {name!r}: a collection with that name or id already exists"
            ) from None
        return self.collection(collection_id)

    def update_collection(
        self, collection_id: str, *, name: str | None = None, description: str | None = None
    ) -> Collection:
        """Rename a collection or change its description (None leaves a field as it is)."""
        try:
            with self.write() as conn:
                if name is not None:
                    conn.execute(
                        "UPDATE collections SET name = ? WHERE id = ?", (name, collection_id)
                    )
                if description is not None:
                    conn.execute(
                        "UPDATE collections SET description = ? WHERE id = ?",
                        (description, collection_id),
                    )
                conn.execute(
                    "UPDATE collections SET updated_at = ? WHERE id = ?", (now_iso(), collection_id)
                )
        except sqlite3.IntegrityError:
            raise LibraryError(f"Collection {name!r}: another collection has that name") from None
        return self.collection(collection_id)

    def delete_collection(self, collection_id: str) -> None:
        """Delete a collection and its items (the calls and talk tracks stay)."""
        with self.write() as conn:
            conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))

    def collection_items(self, collection_id: str) -> list[CollectionItem]:
        """A collection's items in order, with their call's title and talk track's text."""
        return [
            self._item_from_row(r)
            for r in self.conn.execute(
                f"{self._ITEM_SELECT} WHERE i.collection_id = ? ORDER BY i.position, i.added_at",
                (collection_id,),
            )
        ]

    def collection_item(self, item_id: str) -> CollectionItem | None:
        """One item by its exact id, or None."""
        row = self.conn.execute(f"{self._ITEM_SELECT} WHERE i.id = ?", (item_id,)).fetchone()
        return self._item_from_row(row) if row else None

    def add_collection_item(
        self,
        *,
        item_id: str,
        collection_id: str,
        call_id: str,
        start: float,
        end: float,
        track_id: int | None = None,
        note: str | None = None,
        added_at: str | None = None,
        position: int | None = None,
    ) -> CollectionItem:
        """Put a talk track or a time range of a call into a collection.

        Args:
            item_id: the item's stable id (a UUID), kept when it travels in a bundle.
            collection_id: the collection.
            call_id: the call the item plays from.
            start: where it starts in the call, seconds.
            end: where it ends, seconds (after ``start``).
            track_id: the talk track it is, if it is one (None for a plain time range).
            note: the curator's note.
            added_at: when it was added (default: now).
            position: 1-based place to insert it; None appends it.
        """
        stamp = now_iso()
        with self.write() as conn:
            count = int(
                conn.execute(
                    "SELECT count(*) FROM collection_items WHERE collection_id = ?",
                    (collection_id,),
                ).fetchone()[0]
            )
            place = count + 1 if position is None else max(1, min(position, count + 1))
            conn.execute(
                "UPDATE collection_items SET position = position + 1"
                " WHERE collection_id = ? AND position >= ?",
                (collection_id, place),
            )
            conn.execute(
                'INSERT INTO collection_items (id, collection_id, position, call_id, track_id,'
                ' start, "end", note, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                (item_id, collection_id, place, call_id, track_id, start, end, note,
                 added_at or stamp),
            )
            conn.execute(
                "UPDATE collections SET updated_at = ? WHERE id = ?", (stamp, collection_id)
            )
        item = self.collection_item(item_id)
        assert item is not None
        return item

    def remove_collection_item(self, item_id: str) -> None:
        """Take an item out of its collection; the others close up behind it."""
        with self.write() as conn:
            row = conn.execute(
                "SELECT collection_id FROM collection_items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"Collection item {item_id}: no such item")
            conn.execute("DELETE FROM collection_items WHERE id = ?", (item_id,))
            self._renumber_items(conn, row["collection_id"])

    def move_collection_item(self, item_id: str, position: int) -> None:
        """Move an item to a 1-based position (clamped to the collection's length)."""
        with self.write() as conn:
            row = conn.execute(
                "SELECT collection_id FROM collection_items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"Collection item {item_id}: no such item")
            self._renumber_items(conn, row["collection_id"], move=(item_id, position))

    def set_collection_item_note(self, item_id: str, note: str | None) -> None:
        """Replace an item's curator's note (None clears it)."""
        with self.write() as conn:
            cur = conn.execute(
                "UPDATE collection_items SET note = ? WHERE id = ?", (note, item_id)
            )
            if cur.rowcount != 1:
                raise NotFoundError(f"Collection item {item_id}: no such item")

    def _renumber_items(
        self,
        conn: sqlite3.Connection,
        collection_id: str,
        move: tuple[str, int] | None = None,
    ) -> None:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM collection_items WHERE collection_id = ?"
                " ORDER BY position, added_at",
                (collection_id,),
            )
        ]
        if move is not None:
            ids.remove(move[0])
            ids.insert(max(0, min(move[1] - 1, len(ids))), move[0])
        conn.executemany(
            "UPDATE collection_items SET position = ? WHERE id = ?",
            [(i, item_id) for i, item_id in enumerate(ids, 1)],
        )
        conn.execute(
            "UPDATE collections SET updated_at = ? WHERE id = ?", (now_iso(), collection_id)
        )

    def collection_ids(self, refs: Sequence[str]) -> list[str]:
        """Resolve collection names or ids (search's ``in:`` filter); NotFoundError if unknown."""
        return [self.collection(ref).id for ref in refs]

    @staticmethod
    def _in_collections_sql(alias: str, count: int) -> str:
        """SQL true when row ``alias`` (a segment or talk track) lies in an item of a collection.

        An item holds a talk track, or a time range of a call that the row overlaps.
        """
        marks = ",".join("?" * count)
        track = "track_id" if alias == "s" else "id"
        return (
            f"EXISTS (SELECT 1 FROM collection_items ci WHERE ci.collection_id IN ({marks})"
            f" AND (ci.track_id = {alias}.{track} OR (ci.track_id IS NULL"
            f' AND ci.call_id = {alias}.call_id AND {alias}.start < ci."end"'
            f' AND {alias}."end" > ci.start)))'
        )

    def talk_track_by_uuid(self, track_uuid: str) -> TalkTrack | None:
        """The talk track with this stable id, or None."""
        row = self.conn.execute(
            "SELECT id FROM talk_tracks WHERE uuid = ?", (track_uuid,)
        ).fetchone()
        return self.talk_track(row["id"]) if row else None

    def add_clip_transcript(
        self, call_id: str, tracks: Sequence[ClipTrack], segments: Sequence[NewSegment]
    ) -> dict[int, int]:
        """Store a transcript that came with a call (from a bundle) rather than from the model.

        Tags keep their source (a person's decisions stay a person's) and reasons; the search
        index and labels are brought up to date by the same triggers and code as for local
        transcripts. Returns the new talk tracks' ids by their index.
        """
        ids: dict[int, int] = {}
        with self.write() as conn:
            for track in tracks:
                cur = conn.execute(
                    'INSERT INTO talk_tracks (uuid, call_id, idx, start, "end", text, note)'
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (track.uuid, call_id, track.index, track.start, track.end, track.text,
                     track.note),
                )
                track_id = int(cur.lastrowid or 0)
                ids[track.index] = track_id
                conn.executemany(
                    "INSERT INTO tags (call_id, track_id, track_start, track_end, kind, value,"
                    " source, confidence, reason, removed, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (call_id, track_id, track.start, track.end, t.kind, t.value, t.source,
                         t.confidence, t.reason, int(t.removed), now_iso())
                        for t in track.tags
                    ],
                )
            conn.executemany(
                'INSERT INTO segments (call_id, track_id, idx, start, "end", text, confidence,'
                " words) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (call_id, ids.get(s.track_index), i, s.segment.start, s.segment.end,
                     s.segment.text, s.segment.confidence, _words_json(s.segment.words))
                    for i, s in enumerate(segments)
                ],
            )
            for track_id in ids.values():
                self._refresh_labels(conn, track_id)
        return ids

    def is_forgotten(self, call_id: str) -> bool:
        """Whether a call with this id was erased here (its id is all that is kept)."""
        row = self.conn.execute(
            "SELECT 1 FROM forgotten_calls WHERE call_id = ?", (call_id,)
        ).fetchone()
        return row is not None

    def forgotten_like(self, ref: str) -> list[str]:
        """Ids of erased calls equal to ``ref`` or starting with it (4+ characters)."""
        if len(ref) < 4:
            return []
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT call_id FROM forgotten_calls WHERE call_id = ? OR call_id LIKE ?"
                " ESCAPE '\\' LIMIT 2",
                (ref, _like_prefix(ref)),
            )
        ]

    def forget_call_rows(self, call_id: str) -> dict[str, int]:
        """Delete every row that belongs to a call, in one transaction; keep only its id.

        Beyond the known tables, any table with a ``call_id`` or ``track_id`` column (a later
        feature's) is cleared for the call too: erasure must not depend on remembering them.
        Freed pages are zeroed (secure_delete); :meth:`scrub` then removes what the search
        index and the WAL still hold. Returns rows deleted per table.
        """
        self.conn.execute("PRAGMA secure_delete = ON")
        counts: dict[str, int] = {}
        tracks = "(SELECT id FROM talk_tracks WHERE call_id = ?)"
        known = ("collection_items", "track_labels", "tags", "segments", "talk_tracks",
                 "markers", "jobs", "consents", "calls", "forgotten_calls")
        with self.write() as conn:
            counts["collection_items"] = conn.execute(
                f"DELETE FROM collection_items WHERE call_id = ? OR track_id IN {tracks}",
                (call_id, call_id),
            ).rowcount
            counts["track_labels"] = conn.execute(
                f"DELETE FROM track_labels WHERE track_id IN {tracks}", (call_id,)
            ).rowcount
            for table in self._tables_with_column("track_id", exclude=known):
                counts[table] = conn.execute(
                    f'DELETE FROM "{table}" WHERE track_id IN {tracks}', (call_id,)
                ).rowcount
            for table in ("tags", "segments", "talk_tracks", "markers", "jobs", "consents"):
                counts[table] = conn.execute(
                    f"DELETE FROM {table} WHERE call_id = ?", (call_id,)
                ).rowcount
            for table in self._tables_with_column("call_id", exclude=known):
                counts[table] = conn.execute(
                    f'DELETE FROM "{table}" WHERE call_id = ?', (call_id,)
                ).rowcount
            counts["calls"] = conn.execute("DELETE FROM calls WHERE id = ?", (call_id,)).rowcount
            conn.execute(
                "INSERT OR REPLACE INTO forgotten_calls (call_id, forgotten_at) VALUES (?, ?)",
                (call_id, now_iso()),
            )
        return counts

    def _tables_with_column(self, column: str, *, exclude: Sequence[str]) -> list[str]:
        names = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        ]
        return [
            name
            for name in names
            if name not in exclude
            and any(c[1] == column for c in self.conn.execute(f'PRAGMA table_info("{name}")'))
        ]

    def scrub(self) -> bool:
        """Rewrite the database files so that deleted rows leave no bytes behind.

        A deleted row's words stay in FTS5's index until it is optimized, in freed pages
        until they are overwritten, and in the WAL until it is checkpointed and truncated. This
        optimizes every FTS5 index, checkpoints, VACUUMs and truncates the WAL. Returns False
        when another connection kept the WAL from being truncated (run it again later).
        """
        self.conn.execute("PRAGMA secure_delete = ON")
        fts = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%'"
            )
        ]
        with self.write() as conn:
            for name in fts:
                conn.execute(f'INSERT INTO "{name}" ("{name}") VALUES (\'optimize\')')
        # A reader elsewhere (the TUI mid-query) holds the WAL; wait for it a little, not 30 s.
        self.conn.execute("PRAGMA busy_timeout = 5000")
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.conn.execute("VACUUM")
            busy, log, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            return False
        finally:
            self.conn.execute("PRAGMA busy_timeout = 30000")
        return busy == 0 and log <= 0

    @staticmethod
    def _collection_from_row(row: sqlite3.Row) -> Collection:
        return Collection(
            id=row["id"], name=row["name"], description=row["description"],
            curator=row["curator"], origin=row["origin"], created_at=row["created_at"],
            updated_at=row["updated_at"], item_count=row["n_items"],
            seconds=float(row["seconds"]),
        )

    @staticmethod
    def _item_from_row(row: sqlite3.Row) -> CollectionItem:
        return CollectionItem(
            id=row["id"], collection_id=row["collection_id"], position=row["position"],
            call_id=row["call_id"], track_id=row["track_id"], start=row["start"],
            end=row["end"], note=row["note"], added_at=row["added_at"], title=row["title"],
            rep=row["rep"], text=row["track_text"] or "",
            objections=tuple((row["track_objections"] or "").split()),
        )


_CALL_SELECT = (
    "SELECT c.*, j.progress AS job_progress, j.last_error AS job_error FROM calls c"
    " LEFT JOIN jobs j ON j.id = (SELECT max(id) FROM jobs WHERE call_id = c.id)"
)


def track_uuid(call_id: str, start: float) -> str:
    """A talk track's stable id: the same call and start time give the same id on any machine."""
    return str(uuid.uuid5(uuid.UUID(call_id), f"track@{start:.2f}"))


def _call(row: sqlite3.Row) -> Call:
    return Call(
        id=row["id"], title=row["title"], rep=row["rep"], recorded_at=row["recorded_at"],
        imported_at=row["imported_at"], duration=row["duration"], audio_path=row["audio_path"],
        audio_hash=row["audio_hash"], status=row["status"], source=row["source"],
        channel=row["channel"], account=row["account"], recovered=bool(row["recovered"]),
        dropped_samples=row["dropped_samples"], model=row["model"],
        progress=row["job_progress"], last_error=row["job_error"],
    )


def _track(row: sqlite3.Row, tags: tuple[Tag, ...]) -> TalkTrack:
    return TalkTrack(
        id=row["id"], uuid=row["uuid"], call_id=row["call_id"], index=row["idx"],
        start=row["start"], end=row["end"], text=row["text"],
        objections=tuple(row["objections"].split()), tags=tags, note=row["note"],
    )


def _words_json(words: Sequence[Word]) -> str:
    return json.dumps(
        [[round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 3)] for w in words],
        ensure_ascii=False,
    )


def _best_overlap(start: float, end: float, tracks: Sequence[sqlite3.Row]) -> int | None:
    best, best_overlap = None, 0.0
    for t in tracks:
        overlap = min(end, t["end"]) - max(start, t["start"])
        if overlap > best_overlap:
            best, best_overlap = t["id"], overlap
    return best


def _fts_quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _in_nocase(column: str, values: Sequence[str]) -> tuple[str, list[str]]:
    marks = ",".join("?" * len(values))
    return f"{column} COLLATE NOCASE IN ({marks})", list(values)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _shorten(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + "…"


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements


# The collections module needs nothing from this one at run time, so importing its records
# last keeps the store's signatures typed without an import cycle.
from .collections import ClipTrack, Collection, CollectionItem  # noqa: E402
