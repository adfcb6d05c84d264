"""Bundles: export, import merged by stable ids, and every hostile bundle refused cleanly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import struct
import uuid
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shadowbox import collections as curation
from shadowbox.audio import decode
from shadowbox.bundle import BUNDLE_VERSION, BundleLimits, export_bundle, import_bundle
from shadowbox.errors import BundleError
from shadowbox.library import Library
from shadowbox.objections import load_taxonomy
from shadowbox.playback import load_audio
from shadowbox.search import search

from .test_collections import run

NAME = "Price answers"


def curate(root: Path) -> dict[str, Any]:
    """Give a library a collection: two talk tracks and a range, notes, a person's tag."""
    with Library.open(root) as lib:
        calls = {c.title: c for c in lib.list_calls()}
        roi = lib.talk_tracks(calls["Budget is tight: the ROI case"].id)[0]
        quote = lib.talk_tracks(calls["Their quote is lower"].id)[0]
        fiscal = calls["Wait for the new budget cycle"]
        lib.set_tag(roi.id, "custom", "gold", present=True)
        lib.set_note(roi.id, "the math lands")
        made = curation.create_collection(lib, NAME, description="The best answers",
                                          curator="Ana")
        curation.add_track(lib, NAME, roi.id, note="The ROI math")
        curation.add_track(lib, NAME, quote.id)
        curation.add_range(lib, NAME, fiscal.id, 2.0, 9.5, note="a range")
        return {"library_id": lib.library_id(), "collection": made.id, "roi": roi,
                "quote": quote, "items": [i.id for i in curation.items(lib, NAME)]}


def snapshot(root: Path) -> dict[str, str]:
    """Everything a bundle import could change: the rows, and every file's bytes."""
    state: dict[str, str] = {}
    conn = sqlite3.connect(root / "library.db")
    state["rows"] = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    conn.close()
    for path in sorted(root.rglob("*")):
        if path.name.startswith("library.db"):
            continue
        rel = str(path.relative_to(root))
        state[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return state


@pytest.fixture
def origin(demo_copy: Path) -> tuple[Path, dict[str, Any]]:
    """A demo library with a curated collection."""
    return demo_copy, curate(demo_copy)


@pytest.fixture(scope="module")
def good_bundle(demo_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid bundle (unredacted, so its bytes stay fixed) to break in every hostile way."""
    base = tmp_path_factory.mktemp("good")
    root = base / "lib"
    shutil.copytree(demo_library, root)
    curate(root)
    with Library.open(root) as lib:
        export_bundle(lib, NAME, base / "good.zip", redact=False)
    return base / "good.zip"


@pytest.fixture
def receiver(tmp_path: Path, good_bundle: Path) -> Path:
    """A library that already holds something (an imported bundle) to compare against."""
    root = tmp_path / "receiver"
    with Library.open(root) as lib:
        import_bundle(lib, good_bundle)
    return root


# ---------------------------------------------------------------------- export and import


def test_a_bundle_holds_audio_transcripts_notes_and_provenance(
    origin: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, made = origin
    target = tmp_path / "price.zip"
    with Library.open(root) as lib:
        report = export_bundle(lib, NAME, target)
    assert report.items == 3 and report.redacted and target.stat().st_size == report.bytes
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*.part"))
    with zipfile.ZipFile(target) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "shadowbox-bundle" and manifest["version"] == BUNDLE_VERSION
        provenance = manifest["provenance"]
        assert provenance["library_id"] == made["library_id"] and provenance["curator"] == "Ana"
        assert provenance["exported_at"]
        assert manifest["collection"]["id"] == made["collection"]
        assert [i["id"] for i in manifest["items"]] == made["items"]
        assert [i["note"] for i in manifest["items"]] == ["The ROI math", None, "a range"]
        first = manifest["items"][0]
        assert first["source"]["track_uuid"] == made["roi"].uuid
        assert first["source"]["consent"]["method"] in ("verbal", "announcement", "written")
        for item in manifest["items"]:
            audio = zf.read(item["audio"]["path"])
            assert hashlib.sha256(audio).hexdigest() == item["audio"]["sha256"]
            assert audio[:4] == b"OggS" and b"OpusHead" in audio[:100]
            clip = tmp_path / "clip.opus"
            clip.write_bytes(audio)
            assert decode(clip).duration == pytest.approx(item["duration"], abs=0.1)
        transcript = json.loads(zf.read(first["transcript"]["path"]))
        (track,) = transcript["talk_tracks"]
        assert track["text"] == made["roi"].text and track["note"] == "the math lands"
        assert {(t["value"], t["source"]) for t in track["tags"]} >= {
            ("price", "auto"), ("gold", "person")
        }
        words = [w for s in transcript["segments"] for w in s["words"]]
        assert len(words) > 30 and all(0 <= w[0] <= w[1] <= first["duration"] for w in words)


def test_imported_talk_tracks_are_searchable_and_playable(
    origin: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, made = origin
    target = tmp_path / "price.zip"
    with Library.open(root) as lib:
        export_bundle(lib, NAME, target)
    with Library.open(tmp_path / "other") as lib:
        report = import_bundle(lib, target)
        assert (report.added_items, report.new_calls, report.skipped_items) == (3, 3, 0)
        assert report.collection.id == made["collection"] and report.collection.name == NAME
        assert report.collection.curator == "Ana"
        assert report.collection.origin == made["library_id"] != lib.library_id()
        listed = curation.items(lib, NAME)
        assert [i.id for i in listed] == made["items"]
        assert [i.note for i in listed] == ["The ROI math", None, "a range"]
        assert listed[0].text == made["roi"].text and listed[0].objections == ("price",)
        assert listed[0].track_id is not None and listed[2].track_id is None
        assert "fiscal year" in listed[2].text
        calls = {c.id: c for c in lib.list_calls()}
        assert set(calls) == {i.call_id for i in listed}
        for item in listed:
            call = calls[item.call_id]
            assert call.status == "ready" and call.title.startswith(item.title.split(" (")[0])
            path = lib.audio_file(call)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            samples, rate = load_audio(path)
            assert len(samples) / rate == pytest.approx(item.end - item.start, abs=0.1)
            assert lib.consent(call.id).method in ("verbal", "announcement", "written")
        (track,) = lib.talk_tracks(listed[0].call_id)
        assert track.note == "the math lands"
        assert {(t.value, t.source) for t in track.tags} >= {("price", "auto"), ("gold", "person")}
        taxonomy = load_taxonomy([])
        hits = search(lib, taxonomy, "license")
        assert [h.call_id for h in hits] == [listed[0].call_id]
        assert {h.call_id for h in search(lib, taxonomy, "objection:price")} == {
            listed[0].call_id, listed[1].call_id
        }
        assert {h.call_id for h in search(lib, taxonomy, f'in:"{NAME}" tag:gold')} == {
            listed[0].call_id
        }


def test_importing_the_same_bundle_twice_adds_nothing(
    origin: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, _ = origin
    target = tmp_path / "price.zip"
    with Library.open(root) as lib:
        export_bundle(lib, NAME, target)
        before_origin = snapshot(root)
        again = import_bundle(lib, target)
        assert (again.added_items, again.new_calls, again.skipped_items) == (0, 0, 3)
    assert snapshot(root) == before_origin
    other = tmp_path / "other"
    with Library.open(other) as lib:
        import_bundle(lib, target)
    before = snapshot(other)
    code, _, err = run(other, "collection", "import", str(target))
    assert code == 0 and "0 items added, 0 new calls, 3 already here" in err
    assert snapshot(other) == before


def test_a_newer_bundle_merges_only_what_is_new(
    origin: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, _ = origin
    first, second = tmp_path / "v1.zip", tmp_path / "v2.zip"
    with Library.open(root) as lib:
        export_bundle(lib, NAME, first)
        calls = {c.title: c for c in lib.list_calls()}
        extra = lib.talk_tracks(calls["IT has been burned before"].id)[0]
        curation.add_track(lib, NAME, extra.id, note="trust", position=1)
        export_bundle(lib, NAME, second)
    with Library.open(tmp_path / "other") as lib:
        import_bundle(lib, first)
        report = import_bundle(lib, second)
        assert (report.added_items, report.new_calls, report.skipped_items) == (1, 1, 3)
        assert [i.note for i in curation.items(lib, NAME)] == [
            "The ROI math", None, "a range", "trust"
        ]
        assert lib.count_calls() == 4


def test_a_name_taken_by_another_collection_gets_a_suffix(
    origin: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, made = origin
    target = tmp_path / "price.zip"
    with Library.open(root) as lib:
        export_bundle(lib, NAME, target)
    with Library.open(tmp_path / "other") as lib:
        mine = curation.create_collection(lib, NAME.upper())
        report = import_bundle(lib, target)
        assert report.renamed_from == NAME and report.collection.name == f"{NAME} (2)"
        assert report.collection.id == made["collection"] != mine.id
        assert import_bundle(lib, target).added_items == 0


def test_a_failure_while_writing_leaves_nothing_behind(
    good_bundle: Path, receiver: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = tmp_path / "fresh"
    Library.open(fresh).close()
    before = snapshot(fresh)
    calls = 0
    original = Library.add_collection_item

    def failing(self: Library, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        return original(self, **kwargs)

    monkeypatch.setattr(Library, "add_collection_item", failing)
    with Library.open(fresh) as lib, pytest.raises(BundleError, match="No space left"):
        import_bundle(lib, good_bundle)
    assert calls == 3
    assert snapshot(fresh) == before
    with Library.open(fresh) as lib:
        assert lib.list_calls() == [] and lib.list_collections() == []


# ---------------------------------------------------------------------- hostile bundles


def rebuild(
    src: Path,
    dst: Path,
    *,
    drop: tuple[str, ...] = (),
    replace: dict[str, bytes] | None = None,
    add: tuple[zipfile.ZipInfo | str, ...] = (),
    add_data: bytes = b"x",
    manifest: Callable[[dict[str, Any]], Any] | None = None,
) -> Path:
    """Copy a bundle with changes: entries dropped, replaced, added; the manifest edited."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, zin.read(info))
            if info.filename == "manifest.json" and manifest is not None:
                doc = json.loads(data)
                changed = manifest(doc)
                data = changed if isinstance(changed, bytes) else json.dumps(doc).encode()
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are what one test wants
            for extra in add:
                zout.writestr(extra, add_data)
    return dst


def names(bundle: Path) -> list[str]:
    with zipfile.ZipFile(bundle) as zf:
        return zf.namelist()


def first_item(bundle: Path) -> str:
    return next(n for n in names(bundle) if n.endswith("audio.opus")).split("/")[1]


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def set_version(doc: dict[str, Any]) -> None:
    doc["version"] = BUNDLE_VERSION + 1


def bad_id(doc: dict[str, Any]) -> None:
    doc["items"][0]["id"] = "../../etc"


def not_a_bundle(doc: dict[str, Any]) -> None:
    doc["format"] = "something-else"


def items_not_a_list(doc: dict[str, Any]) -> None:
    doc["items"] = {"a": 1}


def _patch_sizes(bundle: Path, entry: str, size: int) -> None:
    """Rewrite an entry's uncompressed size in both headers: the header then lies."""
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(entry)
    local = info.header_offset
    assert data[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, local + 22, size)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len].decode() == entry:
            struct.pack_into("<I", data, central + 24, size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    bundle.write_bytes(bytes(data))


def make_hostile(kind: str, good: Path, tmp: Path) -> tuple[Path, BundleLimits | None]:
    """Build one hostile bundle from the good one; returns it and the limits to import with."""
    dst = tmp / f"{kind}.zip"
    item = first_item(good)
    audio, transcript = f"items/{item}/audio.opus", f"items/{item}/transcript.json"
    if kind == "random-bytes":
        dst.write_bytes(os.urandom(4096))
    elif kind == "dot-dot":
        rebuild(good, dst, add=("../evil.txt",))
    elif kind == "dot-dot-inside":
        rebuild(good, dst, add=(f"items/{item}/../../../evil.txt",))
    elif kind == "absolute":
        rebuild(good, dst, add=("/tmp/evil.txt",))
    elif kind == "symlink":
        rebuild(good, dst, drop=(audio,), add=(symlink(audio),), add_data=b"/etc/passwd")
    elif kind == "zip-bomb-ratio":
        rebuild(good, dst, replace={transcript: b" " * (40 << 20)})
    elif kind == "zip-bomb-total":
        shutil.copy(good, dst)
        return dst, BundleLimits(max_total_bytes=50_000)
    elif kind == "zip-bomb-declared":
        shutil.copy(good, dst)
        _patch_sizes(dst, audio, 3 << 30)
    elif kind == "lying-header":
        shutil.copy(good, dst)
        _patch_sizes(dst, transcript, 10)
    elif kind == "no-manifest":
        rebuild(good, dst, drop=("manifest.json",))
    elif kind == "manifest-not-json":
        rebuild(good, dst, manifest=lambda doc: b"{not json")
    elif kind == "manifest-not-a-bundle":
        rebuild(good, dst, manifest=not_a_bundle)
    elif kind == "manifest-wrong-types":
        rebuild(good, dst, manifest=items_not_a_list)
    elif kind == "manifest-bad-id":
        rebuild(good, dst, manifest=bad_id)
    elif kind == "newer-version":
        rebuild(good, dst, manifest=set_version)
    elif kind == "duplicate-names":
        rebuild(good, dst, add=("manifest.json",), add_data=b"{}")
    elif kind == "unlisted-entry":
        rebuild(good, dst, add=(f"items/{uuid.uuid4()}/transcript.json",))
    elif kind == "missing-entry":
        rebuild(good, dst, drop=(transcript,))
    elif kind == "tampered-audio":
        with zipfile.ZipFile(good) as zf:
            data = bytearray(zf.read(audio))
        data[len(data) // 2] ^= 0xFF
        rebuild(good, dst, replace={audio: bytes(data)})
    elif kind == "not-audio":
        fake = b"this is not audio at all " * 40

        def point_at_fake(doc: dict[str, Any]) -> None:
            doc["items"][0]["audio"]["sha256"] = hashlib.sha256(fake).hexdigest()

        rebuild(good, dst, replace={audio: fake}, manifest=point_at_fake)
    elif kind == "transcript-outside-item":
        with zipfile.ZipFile(good) as zf:
            doc = json.loads(zf.read(transcript))
        doc["segments"][0]["end"] = 10_000.0
        data = json.dumps(doc).encode()

        def point_at_new(manifest: dict[str, Any]) -> None:
            manifest["items"][0]["transcript"]["sha256"] = hashlib.sha256(data).hexdigest()

        rebuild(good, dst, replace={transcript: data}, manifest=point_at_new)
    else:
        raise AssertionError(kind)
    return dst, None


HOSTILE = {
    "random-bytes": "it is not a zip file",
    "dot-dot": "entry '../evil.txt' escapes the bundle folder",
    "dot-dot-inside": "escapes the bundle folder",
    "absolute": "entry '/tmp/evil.txt' has an absolute path",
    "symlink": "is a symbolic link",
    "zip-bomb-ratio": "expands",
    "zip-bomb-total": "it unpacks to more than 48.8 KiB (a zip bomb?)",
    "zip-bomb-declared": "it unpacks to more than 1 GiB (a zip bomb?)",
    "lying-header": "damaged",
    "no-manifest": "it has no manifest.json",
    "manifest-not-json": "manifest.json is not valid JSON",
    "manifest-not-a-bundle": "does not describe a Shadowbox bundle",
    "manifest-wrong-types": "'items' has the wrong type",
    "manifest-bad-id": "item 1: its id is not a UUID",
    "newer-version": f"written by a newer Shadowbox (bundle version {BUNDLE_VERSION + 1}",
    "duplicate-names": "entry 'manifest.json' appears 2 times",
    "unlisted-entry": "is not listed in the manifest",
    "missing-entry": "is listed in the manifest but missing",
    "tampered-audio": "does not match its checksum",
    "not-audio": "the audio of item 1 is not readable audio",
    "transcript-outside-item": "its times are outside the item",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_bundle_is_refused_and_changes_nothing(
    kind: str, good_bundle: Path, receiver: Path, tmp_path: Path
) -> None:
    bundle, limits = make_hostile(kind, good_bundle, tmp_path)
    before = snapshot(receiver)
    with Library.open(receiver) as lib, pytest.raises(BundleError) as caught:
        import_bundle(lib, bundle, limits=limits)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"Bundle {bundle.name} refused: "), message
    assert HOSTILE[kind] in message, message
    assert snapshot(receiver) == before
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_the_cli_refuses_a_hostile_bundle_in_one_line(
    good_bundle: Path, receiver: Path, tmp_path: Path
) -> None:
    bundle, _ = make_hostile("dot-dot", good_bundle, tmp_path)
    before = snapshot(receiver)
    code, out, err = run(receiver, "collection", "import", str(bundle))
    assert code == 1 and out == ""
    assert err == f"shadowbox: Bundle {bundle.name} refused: entry '../evil.txt' escapes the " \
                  "bundle folder\n"
    assert snapshot(receiver) == before


def test_an_empty_collection_cannot_be_exported(library: Library, tmp_path: Path) -> None:
    curation.create_collection(library, "Empty")
    with pytest.raises(BundleError, match="Collection 'Empty': it is empty"):
        export_bundle(library, "Empty", tmp_path / "e.zip")
    assert not (tmp_path / "e.zip").exists()
