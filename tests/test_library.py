"""The store: permissions, schema versions, the job queue with leases, atomic transcripts, tags."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from shadowbox.errors import LibraryError, NotFoundError, SchemaTooNewError
from shadowbox.library import SCHEMA_VERSION, Library, NewSegment, NewTrack, now_iso
from shadowbox.models import Consent, Marker, Segment, Tag, Word


def add(lib: Library, n: int = 1, title: str | None = None, call_id: str | None = None) -> str:
    call_id = call_id or f"00000000-0000-4000-8000-{n:012d}"
    lib.add_call(
        call_id=call_id, title=title or f"call {n}", audio_path=f"audio/{n}.wav",
        audio_hash=f"hash{n}", duration=10.0, rep="Dana",
        consent=Consent(method="verbal", given_at=now_iso()),
        markers=[Marker(at=1.5, label="good bit")],
    )
    return call_id


def transcript(texts: list[str]) -> tuple[list[NewSegment], list[NewTrack]]:
    segments, tracks = [], []
    for i, text in enumerate(texts):
        start = i * 10.0
        words = tuple(
            Word(start + j * 0.5, start + j * 0.5 + 0.4, " " + w, 0.9)
            for j, w in enumerate(text.split())
        )
        seg = Segment(start, start + 5, text, 0.8, words)
        segments.append(NewSegment(seg, i))
        tight = "tight" in text
        tags = (Tag("objection", "price", "auto", 0.9, 'phrase "budget"'),) if tight else ()
        tracks.append(NewTrack(i, start, start + 5, text, tags))
    return segments, tracks


def test_new_library_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        lib = Library.open(tmp_path / "lib")
        add(lib)
        lib.close()
    finally:
        os.umask(old)
    root = tmp_path / "lib"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "audio").stat().st_mode) == 0o700
    for f in root.iterdir():
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_wal_foreign_keys_and_schema_version(library: Library) -> None:
    assert library.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert library.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert library.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused_and_left_untouched(lib_path: Path) -> None:
    Library.open(lib_path).close()
    db = lib_path / "library.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(SchemaTooNewError, match="newer Shadowbox"):
        Library.open(lib_path)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_reopen_keeps_data_and_does_not_migrate_twice(lib_path: Path) -> None:
    with Library.open(lib_path) as lib:
        add(lib)
    with Library.open(lib_path) as lib:
        assert [c.title for c in lib.list_calls()] == ["call 1"]


def test_not_a_database_is_a_clear_error(lib_path: Path) -> None:
    lib_path.mkdir()
    (lib_path / "library.db").write_text("hello, not sqlite")
    with pytest.raises(LibraryError, match=r"library\.db"):
        Library.open(lib_path)


def test_write_rolls_back_on_error(library: Library) -> None:
    call_id = add(library)
    with pytest.raises(RuntimeError), library.write() as conn:
        conn.execute("UPDATE calls SET title = 'changed' WHERE id = ?", (call_id,))
        raise RuntimeError("boom")
    assert library.get_call(call_id).title == "call 1"


def test_add_call_stores_consent_markers_and_queues(library: Library) -> None:
    call_id = add(library)
    call = library.get_call(call_id)
    assert call.status == "queued"
    assert library.consent(call_id).method == "verbal"
    assert library.markers(call_id) == [Marker(at=1.5, label="good bit")]
    assert [j.call_id for j in library.queued_jobs()] == [call_id]


def test_get_call_by_prefix_and_title(library: Library) -> None:
    call_id = add(library, 1, title="Budget talk", call_id="1a2b3c4d-0000-4000-8000-000000000001")
    add(library, 2, title="Other", call_id="1a2b9999-0000-4000-8000-000000000002")
    assert library.get_call(call_id).id == call_id
    assert library.get_call("1a2b3c").id == call_id
    assert library.get_call("budget TALK").id == call_id
    with pytest.raises(NotFoundError, match="more than one"):
        library.get_call("1a2b")
    with pytest.raises(NotFoundError, match="'nope': no such call"):
        library.get_call("nope")


def test_lease_is_exclusive_and_taken_over_when_it_expires(library: Library) -> None:
    call_id = add(library)
    a = library.claim_job("worker-a", lease_seconds=0.0)
    assert a is not None and a.attempts == 1
    # Worker A "died": its lease (0 s) has run out, so B takes the job over.
    b = library.claim_job("worker-b", lease_seconds=60)
    assert b is not None and b.id == a.id and b.attempts == 2
    assert library.claim_job("worker-c") is None
    segments, tracks = transcript(["hello there"])
    # A wakes up and tries to write: refused, nothing half-written.
    assert not library.complete_job(a, duration=10, model="m", segments=segments, tracks=tracks)
    assert library.segments(call_id) == []
    assert library.complete_job(b, duration=10, model="m", segments=segments, tracks=tracks)
    assert library.get_call(call_id).status == "ready"


def test_job_gives_up_after_max_attempts(library: Library) -> None:
    call_id = add(library)
    for _ in range(3):
        assert library.claim_job("w", lease_seconds=0.0) is not None
    assert library.claim_job("w") is None
    call = library.get_call(call_id)
    assert call.status == "failed"
    assert call.last_error is not None and "gave up after 3 attempts" in call.last_error


def test_failed_job_keeps_reason_and_others_go_on(library: Library) -> None:
    first, second = add(library, 1), add(library, 2)
    job = library.claim_job("w")
    assert job is not None and job.call_id == first
    library.fail_job(job, "Could not open recording x.wav: the file is empty")
    assert library.get_call(first).last_error == "Could not open recording x.wav: the file is empty"
    nxt = library.claim_job("w")
    assert nxt is not None and nxt.call_id == second


def test_transcript_is_written_all_or_nothing(library: Library) -> None:
    call_id = add(library)
    job = library.claim_job("w")
    assert job is not None
    segments, tracks = transcript(["one budget", "two"])
    broken = [*segments, NewSegment(Segment(1, 2, None, 0.5), 0)]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        library.complete_job(job, duration=10, model="m", segments=broken, tracks=tracks)
    assert library.segments(call_id) == []
    assert library.talk_tracks(call_id) == []
    assert library.get_call(call_id).status == "transcribing"


def test_person_tags_override_auto_and_survive_retranscription(library: Library) -> None:
    call_id = add(library)
    job = library.claim_job("w")
    assert job is not None
    segments, tracks = transcript(["the budget is tight", "see you tuesday"])
    library.complete_job(job, duration=20, model="m", segments=segments, tracks=tracks)
    first, second = library.talk_tracks(call_id)
    assert first.objections == ("price",)
    library.set_tag(first.id, "objection", "price", present=False)
    library.set_tag(first.id, "objection", "timing", present=True)
    library.set_tag(second.id, "custom", "Gold", present=True)
    library.set_note(second.id, "great close")
    library.enqueue(call_id)
    job = library.claim_job("w")
    assert job is not None
    library.complete_job(job, duration=20, model="m2", segments=segments, tracks=tracks)
    first, second = library.talk_tracks(call_id)
    assert first.objections == ("timing",)
    assert [t.value for t in second.tags if t.kind == "custom"] == ["Gold"]
    assert second.note == "great close"
    assert library.label_counts() == {"timing": 1}
    assert library.label_counts("custom") == {"gold": 1}


def test_search_filters_by_objection_rep_and_tag(library: Library) -> None:
    call_id = add(library)
    job = library.claim_job("w")
    assert job is not None
    segments, tracks = transcript(["the budget is tight", "budget later maybe"])
    library.complete_job(job, duration=20, model="m", segments=segments, tracks=tracks)
    hits = library.search('"budget"')
    assert [h.text for h in hits] == ["budget later maybe", "the budget is tight"] or {
        h.text for h in hits
    } == {"budget later maybe", "the budget is tight"}
    assert [h.text for h in library.search('"budget"', objections=["price"])] == [
        "the budget is tight"
    ]
    assert library.search('"budget"', reps=["DANA"]) != []
    assert library.search('"budget"', reps=["sam"]) == []
    assert "[budget]" in library.search('"budget"', objections=["price"])[0].snippet
    track = library.talk_tracks(call_id)[1]
    library.set_tag(track.id, "custom", "gold", present=True)
    assert [h.track_id for h in library.search('"budget"', tags=["gold"])] == [track.id]
    assert [h.track_id for h in library.search(None, tags=["gold"])] == [track.id]
    assert [h.text for h in library.search(None, objections=["price"])] == ["the budget is tight"]
