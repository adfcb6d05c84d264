"""Erasure: ``forget`` removes a call's audio, rows and index entries, and its words' bytes."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from shadowbox import collections as curation
from shadowbox.bundle import export_bundle, import_bundle
from shadowbox.erase import forget_call
from shadowbox.library import Library
from shadowbox.objections import load_taxonomy
from shadowbox.search import search

from .test_collections import run

TITLE = "Budget is tight: the ROI case"


def raw_bytes(root: Path) -> bytes:
    """Every byte of the database files, lower-cased (the words are stored as typed)."""
    data = b""
    for name in ("library.db", "library.db-wal", "library.db-shm", "library.db-journal"):
        path = root / name
        if path.exists():
            data += path.read_bytes()
    return data.lower()


def distinctive_words(lib: Library, call_id: str) -> list[str]:
    """Long words said in this call and nowhere else in the library."""

    def words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 7}

    mine: set[str] = set()
    for seg in lib.segments(call_id):
        mine |= words(seg.text)
    others: set[str] = set()
    for call in lib.list_calls():
        others |= words(call.title)
        if call.id != call_id:
            for seg in lib.segments(call.id):
                others |= words(seg.text)
            for track in lib.talk_tracks(call.id):
                others |= words(" ".join(t.reason or "" for t in track.tags))
    return sorted(mine - others)


def index_terms(root: Path, call_id: str | None = None) -> set[str]:
    """The search index's terms (only those of this call's segments alone, if one is given),
    read through fts5vocab on a separate connection."""
    conn = sqlite3.connect(root / "library.db")
    conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, segments_fts, instance)")
    docs: dict[str, set[int]] = {}
    for term, doc in conn.execute("SELECT term, doc FROM temp.vocab"):
        docs.setdefault(term, set()).add(doc)
    mine = {r[0] for r in conn.execute("SELECT id FROM segments WHERE call_id = ?", (call_id,))}
    conn.close()
    if call_id is None:
        return set(docs)
    return {term for term, found in docs.items() if found <= mine}


def rows_of(root: Path, call_id: str) -> dict[str, int]:
    """Rows that still name the call, per table (the tombstone of forgotten ids aside)."""
    conn = sqlite3.connect(root / "library.db")
    counts = {}
    for (table,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
    ):
        columns = {c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')}
        for column in ("call_id", "id"):
            if column in columns and table != "forgotten_calls":
                n = conn.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}" = ?', (call_id,)
                ).fetchone()[0]
                if n:
                    counts[f"{table}.{column}"] = n
    conn.close()
    return counts


def test_forget_leaves_no_trace_of_the_call(demo_copy: Path, tmp_path: Path) -> None:
    taxonomy = load_taxonomy([])
    with Library.open(demo_copy) as lib:
        calls = {c.title: c for c in lib.list_calls()}
        call = calls[TITLE]
        other = calls["Their quote is lower"]
        track = lib.talk_tracks(call.id)[0]
        lib.set_tag(track.id, "custom", "gold", present=True, reason="a perfect reframe")
        lib.set_note(track.id, "play this to every new hire")
        curation.create_collection(lib, "Best")
        curation.add_track(lib, "Best", track.id, note="the math")
        curation.add_track(lib, "Best", lib.talk_tracks(other.id)[0].id)
        bundle = tmp_path / "best.zip"
        export_bundle(lib, "Best", bundle)
        secret = distinctive_words(lib, call.id)
        assert len(secret) >= 5, secret
        findable = [w for w in secret if {h.call_id for h in search(lib, taxonomy, w)} == {call.id}]
        assert findable, "some words find only this call"
        audio = lib.audio_file(call)
    stems = {t for t in index_terms(demo_copy, call.id) if len(t) >= 5}
    assert len(stems) >= 5, "the index held the call's own terms before"
    before = raw_bytes(demo_copy)
    assert all(w.encode() in before for w in secret), "the test must see the words first"
    assert audio.exists()

    began = time.monotonic()
    code, _, err = run(demo_copy, "forget", call.id[:8], "--yes")
    elapsed = time.monotonic() - began
    assert code == 0, err
    assert f"Forgot call {call.id[:8]} '{TITLE}'" in err
    print(f"forget took {elapsed:.2f} s on the demo library")

    assert not audio.exists()
    assert not list((demo_copy / "audio").glob(f"{call.id}*"))
    assert rows_of(demo_copy, call.id) == {}
    after = raw_bytes(demo_copy)
    assert [w for w in secret if w.encode() in after] == []
    assert b"play this to every new hire" not in after and b"perfect reframe" not in after
    assert not (stems & index_terms(demo_copy))
    wal = demo_copy / "library.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0

    with Library.open(demo_copy) as lib:
        lib.conn.execute("INSERT INTO segments_fts (segments_fts) VALUES ('integrity-check')")
        assert [w for w in findable if search(lib, taxonomy, w)] == []
        assert [h.call_id for h in search(lib, taxonomy, "quote")] == [other.id]
        assert [i.title for i in curation.items(lib, "Best")] == ["Their quote is lower"]
        assert lib.count_calls() == 13
        # A bundle made before the erasure does not bring the call back.
        report = import_bundle(lib, bundle)
        assert (report.added_items, report.forgotten_items, report.new_calls) == (0, 1, 0)
        assert lib.count_calls() == 13


def test_plain_deletes_would_leave_the_words_in_the_file(demo_copy: Path) -> None:
    """Why forget scrubs: rows deleted without it leave the words in library.db's bytes."""
    with Library.open(demo_copy) as lib:
        call = next(c for c in lib.list_calls() if c.title == TITLE)
        secret = distinctive_words(lib, call.id)
        lib.forget_call_rows(call.id)
        assert rows_of(demo_copy, call.id) == {}
        assert [w for w in secret if w.encode() in raw_bytes(demo_copy)] != []
        assert lib.scrub()
        assert [w for w in secret if w.encode() in raw_bytes(demo_copy)] == []


def test_forget_asks_and_refuses_without_a_terminal(demo_copy: Path) -> None:
    with Library.open(demo_copy) as lib:
        call = next(c for c in lib.list_calls() if c.title == TITLE)
    code, out, err = run(demo_copy, "forget", call.id)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "not confirmed" in err and "--yes" in err
    with Library.open(demo_copy) as lib:
        assert lib.get_call(call.id).title == TITLE
        assert lib.audio_file(call).exists()


def test_forget_errors_and_a_second_forget(demo_copy: Path) -> None:
    code, _, err = run(demo_copy, "forget", "no-such-call", "--yes")
    assert code == 1 and err == (
        f"shadowbox: Call 'no-such-call': no such call in {demo_copy} (see `shadowbox calls`)\n"
    )
    with Library.open(demo_copy) as lib:
        call = next(c for c in lib.list_calls() if c.title == TITLE)
    assert run(demo_copy, "forget", call.id, "--yes")[0] == 0
    code, _, err = run(demo_copy, "forget", call.id)
    assert code == 0 and "was already forgotten; scrubbed the library again" in err


def test_an_open_reader_is_reported_and_a_second_run_finishes(demo_copy: Path) -> None:
    with Library.open(demo_copy) as lib:
        call = next(c for c in lib.list_calls() if c.title == TITLE)
        secret = distinctive_words(lib, call.id)
        reader = sqlite3.connect(demo_copy / "library.db", isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM segments").fetchone()
        report = forget_call(lib, call.id)
        assert not report.scrubbed and report.rows["calls"] == 1
        reader.execute("COMMIT")
        reader.close()
        again = forget_call(lib, call.id[:8])
        assert again.already_forgotten and again.scrubbed
    assert [w for w in secret if w.encode() in raw_bytes(demo_copy)] == []
