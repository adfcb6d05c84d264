"""Collections: the v2 migration, curation in the store, the ``in:`` filter, the CLI, playback."""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from shadowbox import collections as curation
from shadowbox.errors import LibraryError, NotFoundError
from shadowbox.library import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Library,
    NewSegment,
    NewTrack,
    _split_sql,
    now_iso,
)
from shadowbox.models import Consent, Segment, Tag, Word
from shadowbox.objections import load_taxonomy
from shadowbox.search import search


def shadowbox_cli() -> click.Group:
    """The click group with the collection commands: the real one once cli.py registers them,
    until then a copy with them added (the shared group is left as it is)."""
    import shadowbox.cli as cli
    from shadowbox.cli_collections import collection, forget

    if "collection" in cli.cli.commands and "forget" in cli.cli.commands:
        return cli.cli
    group = copy.copy(cli.cli)
    group.commands = {**cli.cli.commands, "collection": collection, "forget": forget}
    return group


def run(lib: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI on a library; returns exit code, stdout and stderr."""
    result = CliRunner().invoke(shadowbox_cli(), ["--library", str(lib), *args])
    return result.exit_code, result.stdout, result.stderr


def add_transcribed_call(lib: Library, n: int, texts: list[str], rep: str = "Dana") -> str:
    """A call whose transcript is ``texts``, one 5 s talk track each, 10 s apart."""
    call_id = f"00000000-0000-4000-8000-{n:012d}"
    lib.add_call(
        call_id=call_id, title=f"call {n}", audio_path=f"audio/{n}.wav", audio_hash=f"h{n}",
        duration=10.0 * len(texts), rep=rep, consent=Consent(method="verbal", given_at=now_iso()),
    )
    segments, tracks = [], []
    for i, text in enumerate(texts):
        start = i * 10.0
        words = tuple(
            Word(start + j * 0.5, start + j * 0.5 + 0.4, " " + w, 0.9)
            for j, w in enumerate(text.split())
        )
        segments.append(NewSegment(Segment(start, words[-1].end, text, 0.8, words), i))
        tags = (Tag("objection", "price", "auto", 0.9, "budget"),) if "budget" in text else ()
        tracks.append(NewTrack(i, start, words[-1].end, text, tags))
    job = lib.claim_job("test", call_ids=[call_id])
    assert job is not None
    assert lib.complete_job(job, duration=10.0 * len(texts), model="m", segments=segments,
                            tracks=tracks)
    return call_id


# ---------------------------------------------------------------------- migration


def test_a_v1_library_migrates_to_v2_and_keeps_its_data(lib_path: Path) -> None:
    lib_path.mkdir()
    conn = sqlite3.connect(lib_path / "library.db", isolation_level=None)
    for statement in _split_sql(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    call_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO calls (id, title, recorded_at, imported_at, audio_path, audio_hash, status)"
        " VALUES (?, 'Old call', '2024-01-01', '2024-01-01', 'audio/x.wav', 'abc', 'ready')",
        (call_id,),
    )
    conn.execute(
        "INSERT INTO consents (call_id, method, given_at) VALUES (?, 'verbal', '2024-01-01')",
        (call_id,),
    )
    conn.execute(
        'INSERT INTO talk_tracks (uuid, call_id, idx, start, "end", text)'
        " VALUES ('t1', ?, 0, 0, 4, 'the quarterly budget is frozen')",
        (call_id,),
    )
    conn.execute(
        'INSERT INTO segments (call_id, track_id, idx, start, "end", text)'
        " VALUES (?, 1, 0, 0, 4, 'the quarterly budget is frozen')",
        (call_id,),
    )
    conn.close()

    with Library.open(lib_path) as lib:
        assert lib.schema_version == SCHEMA_VERSION == 2
        assert lib.get_call(call_id).title == "Old call"
        assert [t.text for t in lib.talk_tracks(call_id)] == ["the quarterly budget is frozen"]
        assert [h.call_id for h in lib.search('"quarterly"')] == [call_id]
        assert lib.list_collections() == []
        library_id = lib.library_id()
        assert str(uuid.UUID(library_id)) == library_id
        made = curation.create_collection(lib, "Onboarding")
        item = curation.add_track(lib, "onboarding", 1, note="listen to the pause")
        assert (item.text, item.note, made.origin) == (
            "the quarterly budget is frozen", "listen to the pause", library_id
        )
    with Library.open(lib_path) as lib:
        assert lib.library_id() == library_id
        assert [c.name for c in lib.list_collections()] == ["Onboarding"]


def test_two_libraries_get_different_ids(tmp_path: Path) -> None:
    with Library.open(tmp_path / "a") as a, Library.open(tmp_path / "b") as b:
        assert a.library_id() != b.library_id()


# ---------------------------------------------------------------------- curation


def test_collection_lifecycle(library: Library) -> None:
    call = add_transcribed_call(
        library, 1, ["the budget is tight this year", "we can start in march", "talk soon"]
    )
    t1, t2, t3 = library.talk_tracks(call)
    made = curation.create_collection(library, "  Price   answers ", description="the best",
                                      curator="Ana")
    assert made.name == "Price answers" and made.curator == "Ana"
    with pytest.raises(LibraryError, match="'PRICE ANSWERS': one with that name already exists"):
        curation.create_collection(library, "PRICE ANSWERS")
    with pytest.raises(LibraryError, match="empty"):
        curation.create_collection(library, "   ")

    first = curation.add_track(library, "price answers", t1.id, note="  names the number ")
    assert (first.position, first.note, first.objections) == (1, "names the number", ("price",))
    curation.add_track(library, made.id, t2.uuid)
    with pytest.raises(LibraryError, match=f"Talk track {t1.id}: already in collection"):
        curation.add_track(library, "Price answers", str(t1.id))
    ranged = curation.add_range(library, made.id[:8], call, 20.0, 21.2, note="the close")
    assert ranged.track_id is None and ranged.text == "talk soon"
    with pytest.raises(LibraryError, match="end must come after the start"):
        curation.add_range(library, "Price answers", call, 5, 4)
    with pytest.raises(LibraryError, match=r"only 30\.0 s long"):
        curation.add_range(library, "Price answers", call, 31, 40)
    with pytest.raises(NotFoundError, match="Talk track 'abc': no such"):
        curation.resolve_track(library, "abc")
    with pytest.raises(NotFoundError, match="Collection 'nope': no such collection"):
        curation.add_track(library, "nope", t3.id)

    moved = curation.move_item(library, "Price answers", "3", 1)
    assert [(i.position, i.text) for i in moved] == [
        (1, "talk soon"), (2, "the budget is tight this year"), (3, "we can start in march"),
    ]
    curation.move_item(library, "Price answers", first.id[:8], 99)
    assert [i.id for i in curation.items(library, "Price answers")][-1] == first.id
    removed = curation.remove_item(library, "Price answers", "1")
    assert removed.id == ranged.id
    assert [(i.position, i.text) for i in curation.items(library, "Price answers")] == [
        (1, "we can start in march"), (2, "the budget is tight this year"),
    ]
    with pytest.raises(NotFoundError, match="Item 5 of collection 'Price answers': it has 2"):
        curation.remove_item(library, "Price answers", "5")
    noted = curation.set_item_note(library, "Price answers", "2", "the best one")
    assert noted.note == "the best one"
    assert curation.set_item_note(library, "Price answers", "2", " ").note is None

    described = curation.describe_collection(library, "price answers", "Five answers to price")
    assert described.description == "Five answers to price" and described.item_count == 2
    renamed = curation.rename_collection(library, "price answers", "Price: the best")
    assert renamed.id == made.id
    assert [c.name for c in curation.list_collections(library)] == ["Price: the best"]
    curation.delete_collection(library, "Price: the best")
    assert library.list_collections() == []
    assert len(library.talk_tracks(call)) == 3


def test_retranscription_keeps_an_item_as_its_time_range(library: Library) -> None:
    call = add_transcribed_call(library, 1, ["the budget is tight", "see you tuesday"])
    track = library.talk_tracks(call)[0]
    curation.create_collection(library, "C")
    curation.add_track(library, "C", track.id, note="keep me")
    library.enqueue(call)
    job = library.claim_job("again")
    assert job is not None
    words = tuple(Word(j * 0.5, j * 0.5 + 0.4, " " + w, 0.9)
                  for j, w in enumerate(["the", "budget", "is", "really", "tight"]))
    library.complete_job(
        job, duration=20, model="m2",
        segments=[NewSegment(Segment(0, 2.4, "the budget is really tight", 0.8, words), 0)],
        tracks=[NewTrack(0, 0, 2.4, "the budget is really tight")],
    )
    (item,) = curation.items(library, "C")
    assert item.track_id is None
    # The item kept its range (0-1.9 s), so it reads the new words spoken in that range.
    assert (item.start, item.end) == (0.0, 1.9)
    assert (item.text, item.note) == ("the budget is really", "keep me")


def test_in_filter_finds_talk_tracks_of_that_collection(library: Library) -> None:
    taxonomy = load_taxonomy([])
    a = add_transcribed_call(library, 1, ["the budget is tight", "budget talk later"])
    b = add_transcribed_call(library, 2, ["our budget is gone", "call me next week"], rep="Sam")
    curation.create_collection(library, "Onboarding")
    curation.add_track(library, "Onboarding", library.talk_tracks(a)[0].id)
    curation.add_range(library, "Onboarding", b, 9.5, 12.0)

    hits = search(library, taxonomy, "budget in:onboarding")
    assert {(h.call_id, h.text) for h in hits} == {(a, "the budget is tight")}
    everything = search(library, taxonomy, "in:Onboarding")
    assert {(h.call_id, h.text) for h in everything} == {
        (a, "the budget is tight"), (b, "call me next week"),
    }
    assert search(library, taxonomy, "in:onboarding rep:sam") != []
    assert len(search(library, taxonomy, "budget")) == 3
    with pytest.raises(NotFoundError, match="Collection 'nope': no such collection"):
        search(library, taxonomy, "budget in:nope")


# ---------------------------------------------------------------------- CLI and real audio


def test_cli_curates_a_collection_end_to_end(demo_copy: Path, tmp_path: Path) -> None:
    with Library.open(demo_copy) as lib:
        calls = {c.title: c for c in lib.list_calls()}
        roi = lib.talk_tracks(calls["Budget is tight: the ROI case"].id)[0]
        quote = lib.talk_tracks(calls["Their quote is lower"].id)[0]
        fiscal = calls["Wait for the new budget cycle"]

    code, _, err = run(demo_copy, "collection", "create", "Price answers",
                       "--description", "How the best reps answer too expensive")
    assert code == 0 and "Created collection 'Price answers'" in err
    assert run(demo_copy, "collection", "add", "price answers", str(roi.id),
               "--note", "The ROI math")[0] == 0
    assert run(demo_copy, "collection", "add", "Price answers", quote.uuid)[0] == 0
    code, _, err = run(demo_copy, "collection", "add", "Price answers", "--call", fiscal.id[:8],
                       "--start", "0:02", "--end", "9.5", "--note", "timing, as a range")
    assert code == 0, err

    code, out, _ = run(demo_copy, "collection", "show", "Price answers", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["name"] == "Price answers" and shown["description"].startswith("How the best")
    keys = {"id", "position", "call_id", "track_id", "start", "end", "text", "note", "objections"}
    assert all(keys <= set(i) for i in shown["items"])
    assert [(i["position"], i["note"]) for i in shown["items"]] == [
        (1, "The ROI math"), (2, None), (3, "timing, as a range"),
    ]
    assert shown["items"][0]["text"] == roi.text and shown["items"][0]["objections"] == ["price"]
    assert (shown["items"][2]["start"], shown["items"][2]["end"]) == (2.0, 9.5)
    assert "fiscal year" in shown["items"][2]["text"]

    assert run(demo_copy, "collection", "move", "Price answers", "3", "1")[0] == 0
    assert run(demo_copy, "collection", "describe", "Price answers", "Three answers")[0] == 0
    code, out, _ = run(demo_copy, "collection", "list", "--json")
    assert code == 0
    (listed,) = json.loads(out)
    assert (listed["name"], listed["items"], listed["description"]) == (
        "Price answers", 3, "Three answers"
    )
    code, out, _ = run(demo_copy, "collection", "show", "Price answers")
    assert code == 0 and out.index("timing, as a range") < out.index("The ROI math")

    guide = tmp_path / "guide.md"
    code, _, err = run(demo_copy, "collection", "export", "Price answers", str(guide))
    assert code == 0, err
    text = guide.read_text()
    assert text.startswith("# Price answers\n\nThree answers\n")
    assert text.index("## 1. Wait for the new budget cycle · 0:02–0:09") < text.index(
        "## 2. Budget is tight: the ROI case · 0:00–0:20"
    ) < text.index("## 3. Their quote is lower")
    assert "> **Why listen:** The ROI math" in text and "*Objections: price" in text
    assert (guide.stat().st_mode & 0o777) == 0o600

    assert run(demo_copy, "collection", "remove", "Price answers", "1")[0] == 0
    code, out, _ = run(demo_copy, "collection", "show", "Price answers", "--json")
    assert [i["note"] for i in json.loads(out)["items"]] == ["The ROI math", None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("collection", "show", "nope"), "shadowbox: Collection 'nope': no such collection"),
        (("collection", "add", "C", "99999"), "shadowbox: Talk track 99999: no such talk track"),
        (("collection", "add", "C"), "shadowbox: Collection add: give a TRACK number"),
        (("collection", "add", "C", "--call", "x", "--start", "1"), "needs --start and --end"),
        (("collection", "create", "c"), "shadowbox: Collection 'c': one with that name"),
        (("collection", "move", "C", "7", "1"), "shadowbox: Item 7 of collection 'C'"),
    ],
)
def test_cli_mistakes_are_one_line_errors(
    library: Library, lib_path: Path, args: tuple[str, ...], message: str
) -> None:
    curation.create_collection(library, "C")
    code, out, err = run(lib_path, *args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_bad_time_is_a_usage_error(library: Library, lib_path: Path) -> None:
    curation.create_collection(library, "C")
    code, _, err = run(lib_path, "collection", "add", "C", "--call", "x", "--start", "soon",
                       "--end", "2")
    assert code == 2 and "'soon' is not a time" in err


def test_a_collection_plays_back_to_back(demo_copy: Path) -> None:
    with Library.open(demo_copy) as lib:
        calls = {c.title: c for c in lib.list_calls()}
        first = lib.talk_tracks(calls["Their quote is lower"].id)[0]
        curation.create_collection(lib, "Listen")
        curation.add_track(lib, "Listen", first.id)
        curation.add_range(lib, "Listen", calls["Wait for the new budget cycle"].id, 2.0, 6.0)
        played = curation.playlist(lib, "Listen", gap=0.5)
    assert played.sample_rate == 16000
    a, b = played.entries
    assert a.offset == 0 and a.duration == pytest.approx(first.end - first.start, abs=0.01)
    assert b.offset == pytest.approx(a.end + 0.5, abs=0.001)
    assert b.duration == pytest.approx(4.0, abs=0.01)
    assert len(played.samples) / 16000 == pytest.approx(b.end, abs=0.001)
    assert played.entry_at(1.0) == a and played.entry_at(a.end + 0.2) == b
    assert played.entry_at(b.end + 1) is None
    gap = played.samples[int(a.end * 16000) + 10 : int(b.offset * 16000) - 10]
    assert np.all(gap == 0) and np.sqrt(np.mean(played.samples[: int(a.end * 16000)] ** 2)) > 0.01
