"""Collections: curated, ordered lists of talk tracks and time ranges, each with a curator's note.

An enablement team turns a pile of calls into a curriculum ("Price: the five best answers").
A collection and each of its items carry UUIDs made here, so a collection exported from one
library and imported into another (see ``bundle``) merges instead of doubling. This module
holds the records and the rules (names, ranges, positions, item text); the store holds the
SQL. It needs nothing from the store at import time (the store imports its records).
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import LibraryError, NotFoundError
from .export import short_clock
from .models import Segment, Tag, TalkTrack, Word
from .redact import redact_text

if TYPE_CHECKING:
    from .library import Library

MAX_NAME = 120
# A range shorter than this is not something a junior can learn from.
MIN_RANGE_SECONDS = 0.5
# Silence between items when a collection plays back to back.
PLAYLIST_GAP_SECONDS = 0.75


@dataclass(frozen=True)
class Collection:
    """A curated list of moments from calls, in the order a junior should hear them."""

    id: str
    name: str
    description: str | None
    curator: str | None
    created_at: str
    updated_at: str
    origin: str | None = None
    item_count: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The keys ``collection list --json`` prints."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "curator": self.curator,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "origin": self.origin,
            "items": self.item_count,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class CollectionItem:
    """One moment in a collection: a talk track, or a time range of a call, with a note.

    ``position`` is 1-based. ``track_id`` is None for a plain time range (and for a talk
    track whose call was transcribed again since; its range still holds).
    """

    id: str
    collection_id: str
    position: int
    call_id: str
    track_id: int | None
    start: float
    end: float
    note: str | None
    added_at: str
    title: str
    rep: str | None
    text: str = ""
    objections: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        """The keys ``collection show --json`` prints for each item."""
        return {
            "id": self.id,
            "position": self.position,
            "call_id": self.call_id,
            "track_id": self.track_id,
            "title": self.title,
            "rep": self.rep,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "note": self.note,
            "objections": list(self.objections),
            "added_at": self.added_at,
        }


@dataclass(frozen=True)
class ClipTrack:
    """A talk track that arrives with its transcript (from a bundle) rather than from the model."""

    index: int
    uuid: str
    start: float
    end: float
    text: str
    note: str | None = None
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class PlaylistEntry:
    """Where one item sits in a collection's back-to-back audio."""

    item: CollectionItem
    offset: float
    duration: float

    @property
    def end(self) -> float:
        """Where the item stops in the joined audio."""
        return self.offset + self.duration


@dataclass(frozen=True)
class Playlist:
    """A collection's items decoded and joined, with short silences between them.

    Hand ``samples`` and ``sample_rate`` to the player (``ranges`` makes its skip-silence
    mode jump the gaps) and use :meth:`entry_at` to show which item is playing.
    """

    samples: np.ndarray
    sample_rate: int
    entries: tuple[PlaylistEntry, ...] = field(default_factory=tuple)

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """Each item's (start, end) in the joined audio, in seconds."""
        return [(e.offset, e.end) for e in self.entries]

    def entry_at(self, position: float) -> PlaylistEntry | None:
        """The item playing at ``position`` seconds (the next one while in a gap)."""
        starts = [e.offset for e in self.entries]
        i = bisect_right(starts, position) - 1
        if i >= 0 and position < self.entries[i].end:
            return self.entries[i]
        return self.entries[i + 1] if i + 1 < len(self.entries) else None


# ---------------------------------------------------------------------- collections


def clean_name(name: str) -> str:
    """A collection name trimmed and checked: not empty, one line, at most MAX_NAME characters."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise LibraryError("Collection name: it is empty")
    if len(cleaned) > MAX_NAME:
        raise LibraryError(f"Collection name {cleaned[:20]!r}…: longer than {MAX_NAME} characters")
    return cleaned


def create_collection(
    library: Library, name: str, *, description: str | None = None, curator: str | None = None
) -> Collection:
    """Start an empty collection with a fresh UUID (so it merges, not doubles, elsewhere).

    Args:
        library: the open library.
        name: unique in the library (case aside).
        description: what the collection teaches.
        curator: who puts it together (shown in exports and bundles).
    """
    cleaned = clean_name(name)
    if library.collection_name_taken(cleaned):
        raise LibraryError(f"Collection {cleaned!r}: one with that name already exists")
    return library.create_collection(
        collection_id=str(uuid.uuid4()), name=cleaned, description=description, curator=curator
    )


def get_collection(library: Library, ref: str) -> Collection:
    """A collection by name (any case), id or id prefix; NotFoundError names what was asked."""
    return library.collection(ref)


def list_collections(library: Library) -> list[Collection]:
    """Every collection, by name, with item counts and lengths."""
    return library.list_collections()


def describe_collection(library: Library, ref: str, description: str) -> Collection:
    """Set what a collection teaches (an empty text clears it).

    Args:
        library: the open library.
        ref: the collection's name or id.
        description: the new description.
    """
    found = library.collection(ref)
    return library.update_collection(found.id, description=description.strip())


def rename_collection(library: Library, ref: str, name: str) -> Collection:
    """Give a collection a new name (its id, and so its identity in bundles, stays).

    Args:
        library: the open library.
        ref: the collection's current name or id.
        name: the new name, unique in the library.
    """
    found = library.collection(ref)
    return library.update_collection(found.id, name=clean_name(name))


def delete_collection(library: Library, ref: str) -> Collection:
    """Delete a collection and its items; the calls and talk tracks stay. Returns what went."""
    found = library.collection(ref)
    library.delete_collection(found.id)
    return found


# ---------------------------------------------------------------------- items


def resolve_track(library: Library, ref: str | int) -> TalkTrack:
    """A talk track by its number (as ``shadowbox show`` prints it) or its UUID."""
    text = str(ref).strip().lstrip("#")
    if text.isdigit():
        return library.talk_track(int(text))
    track = library.talk_track_by_uuid(text)
    if track is None:
        raise NotFoundError(
            f"Talk track {ref!r}: no such talk track (see `shadowbox show CALL` for numbers)"
        )
    return track


def add_track(
    library: Library,
    ref: str,
    track_ref: str | int,
    *,
    note: str | None = None,
    position: int | None = None,
) -> CollectionItem:
    """Add a talk track to a collection (what the TUI's ``c`` key does).

    Args:
        library: the open library.
        ref: the collection's name or id.
        track_ref: the talk track's number or UUID.
        note: the curator's note: why this answer is worth hearing.
        position: 1-based place to insert it; None appends it.
    """
    collection = library.collection(ref)
    track = resolve_track(library, track_ref)
    for existing in library.collection_items(collection.id):
        if existing.track_id == track.id:
            raise LibraryError(
                f"Talk track {track.id}: already in collection {collection.name!r} "
                f"(item {existing.position})"
            )
    item = library.add_collection_item(
        item_id=str(uuid.uuid4()), collection_id=collection.id, call_id=track.call_id,
        track_id=track.id, start=track.start, end=track.end, note=_clean_note(note),
        position=position,
    )
    return _with_text(library, item)


def add_range(
    library: Library,
    ref: str,
    call_ref: str,
    start: float,
    end: float,
    *,
    note: str | None = None,
    position: int | None = None,
) -> CollectionItem:
    """Add a time range of a call to a collection (a moment that is not one whole talk track).

    Args:
        library: the open library.
        ref: the collection's name or id.
        call_ref: the call's id, id prefix or title.
        start: where the range starts, seconds into the call.
        end: where it ends, seconds into the call.
        note: the curator's note.
        position: 1-based place to insert it; None appends it.
    """
    collection = library.collection(ref)
    call = library.get_call(call_ref)
    if start < 0 or end <= start:
        raise LibraryError(
            f"Range {start:g}-{end:g} s of {call.title!r}: the end must come after the start, "
            "and the start at 0 or later"
        )
    if end - start < MIN_RANGE_SECONDS:
        raise LibraryError(
            f"Range {start:g}-{end:g} s of {call.title!r}: shorter than {MIN_RANGE_SECONDS} s"
        )
    if call.duration is not None and start >= call.duration:
        raise LibraryError(
            f"Range {start:g}-{end:g} s of {call.title!r}: the call is only "
            f"{call.duration:.1f} s long"
        )
    if call.duration is not None:
        end = min(end, call.duration)
    for existing in library.collection_items(collection.id):
        if (existing.call_id, round(existing.start, 2), round(existing.end, 2)) == (
            call.id, round(start, 2), round(end, 2)
        ):
            raise LibraryError(
                f"Range {start:g}-{end:g} s of {call.title!r}: already in collection "
                f"{collection.name!r} (item {existing.position})"
            )
    item = library.add_collection_item(
        item_id=str(uuid.uuid4()), collection_id=collection.id, call_id=call.id,
        track_id=None, start=start, end=end, note=_clean_note(note), position=position,
    )
    return _with_text(library, item)


def find_item(library: Library, collection: Collection, item_ref: str) -> CollectionItem:
    """An item of a collection by its position (1, 2, ...) or its id or id prefix (4+)."""
    current = library.collection_items(collection.id)
    text = item_ref.strip().lstrip("#")
    if text.isdigit() and len(text) < 6:
        number = int(text)
        for item in current:
            if item.position == number:
                return item
        raise NotFoundError(
            f"Item {number} of collection {collection.name!r}: it has {len(current)} items"
        )
    matches = [i for i in current if i.id == text] or (
        [i for i in current if i.id.startswith(text)] if len(text) >= 4 else []
    )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFoundError(f"Item {item_ref!r}: more than one item matches; give more of its id")
    raise NotFoundError(f"Item {item_ref!r}: not in collection {collection.name!r}")


def remove_item(library: Library, ref: str, item_ref: str) -> CollectionItem:
    """Take an item out of a collection (the talk track itself stays). Returns the item.

    Args:
        library: the open library.
        ref: the collection's name or id.
        item_ref: the item's position or id.
    """
    collection = library.collection(ref)
    item = find_item(library, collection, item_ref)
    library.remove_collection_item(item.id)
    return item


def move_item(library: Library, ref: str, item_ref: str, position: int) -> list[CollectionItem]:
    """Move an item to a new position; returns the collection's items in their new order.

    Args:
        library: the open library.
        ref: the collection's name or id.
        item_ref: the item's position or id.
        position: where it goes, 1-based (beyond the end means last).
    """
    if position < 1:
        raise LibraryError(f"Position {position}: positions start at 1")
    collection = library.collection(ref)
    item = find_item(library, collection, item_ref)
    library.move_collection_item(item.id, position)
    return items(library, collection.id)


def set_item_note(
    library: Library, ref: str, item_ref: str, note: str | None
) -> CollectionItem:
    """Replace an item's curator's note (None or blank clears it).

    Args:
        library: the open library.
        ref: the collection's name or id.
        item_ref: the item's position or id.
        note: the new note.
    """
    collection = library.collection(ref)
    item = find_item(library, collection, item_ref)
    library.set_collection_item_note(item.id, _clean_note(note))
    found = library.collection_item(item.id)
    assert found is not None
    return _with_text(library, found)


def items(library: Library, ref: str) -> list[CollectionItem]:
    """A collection's items in order, each with its text and objections.

    A talk track's item reads as the talk track; a time range reads as the words spoken in it.
    """
    collection = library.collection(ref)
    cache: dict[str, tuple[list[Segment], list[TalkTrack]]] = {}
    return [_with_text(library, i, cache) for i in library.collection_items(collection.id)]


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    cleaned = note.strip()
    return cleaned or None


def _with_text(
    library: Library,
    item: CollectionItem,
    cache: dict[str, tuple[list[Segment], list[TalkTrack]]] | None = None,
) -> CollectionItem:
    if item.track_id is not None:
        return item
    cache = {} if cache is None else cache
    if item.call_id not in cache:
        cache[item.call_id] = (library.segments(item.call_id), library.talk_tracks(item.call_id))
    segments, tracks = cache[item.call_id]
    clipped = clip_segments(segments, item.start, item.end)
    text = " ".join(s.text for s in clipped if s.text)
    objections: list[str] = []
    for t in tracks:
        if t.start < item.end and t.end > item.start:
            objections.extend(o for o in t.objections if o not in objections)
    return replace(item, text=text, objections=tuple(objections))


def clip_segments(segments: list[Segment], start: float, end: float) -> list[Segment]:
    """The part of a transcript spoken between ``start`` and ``end`` (times stay the call's).

    A word belongs to the range when its middle does; a segment without word timings when
    its middle does.
    """
    out: list[Segment] = []
    for seg in segments:
        if seg.end <= start or seg.start >= end:
            continue
        if not seg.words:
            if start <= (seg.start + seg.end) / 2 < end:
                out.append(seg)
            continue
        words = tuple(w for w in seg.words if start <= (w.start + w.end) / 2 < end)
        if not words:
            continue
        if len(words) == len(seg.words):
            out.append(seg)
            continue
        out.append(
            Segment(
                start=words[0].start, end=words[-1].end,
                text="".join(w.word for w in words).strip(), confidence=seg.confidence,
                words=words, id=seg.id, track_id=seg.track_id,
            )
        )
    return out


def shift_segments(segments: list[Segment], offset: float) -> list[Segment]:
    """The same segments with every time moved by ``-offset`` (call time to clip time)."""
    return [
        replace(
            s,
            start=max(0.0, s.start - offset),
            end=max(0.0, s.end - offset),
            words=tuple(
                Word(max(0.0, w.start - offset), max(0.0, w.end - offset), w.word, w.probability)
                for w in s.words
            ),
        )
        for s in segments
    ]


# ---------------------------------------------------------------------- study guide


def study_guide(library: Library, ref: str, *, redact: bool = True) -> str:
    """A collection as a Markdown study guide: items in order with times, objections and notes.

    Args:
        library: the open library.
        ref: the collection's name or id.
        redact: replace emails, phone numbers and long digit runs in the text and notes.
    """
    collection = library.collection(ref)
    listed = items(library, collection.id)

    def clean(text: str) -> str:
        return redact_text(text).text if redact else text

    total = sum(i.duration for i in listed)
    lines = [f"# {collection.name}", ""]
    if collection.description:
        lines += [clean(collection.description), ""]
    lines += [
        f"- Curator: {collection.curator or 'unknown'}",
        f"- Items: {len(listed)} ({short_clock(total)} in all)",
        f"- Collection id: {collection.id}",
        "",
    ]
    for item in listed:
        heading = f"## {item.position}. {item.title} · {short_clock(item.start)}–" + short_clock(
            item.end
        )
        lines += [heading, ""]
        meta = [f"Rep: {item.rep or 'unknown'}", f"call {item.call_id[:8]}"]
        if item.objections:
            meta.insert(0, "Objections: " + ", ".join(item.objections))
        lines += ["*" + " · ".join(meta) + "*", ""]
        if item.note:
            lines += [f"> **Why listen:** {clean(item.note)}", ""]
        lines += [clean(item.text) or "_(no transcript yet)_", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------- playback


def playlist(library: Library, ref: str, *, gap: float = PLAYLIST_GAP_SECONDS) -> Playlist:
    """A collection's audio, item after item, ready for the player (back-to-back playback).

    Each call is decoded once (16 kHz mono, the rep's channel) however many items it has.

    Args:
        library: the open library.
        ref: the collection's name or id.
        gap: seconds of silence between items.
    """
    from .audio import SAMPLE_RATE, decode

    listed = items(library, ref)
    pieces: list[np.ndarray] = []
    entries: list[PlaylistEntry] = []
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    offset = 0
    decoded_call: tuple[str, np.ndarray] | None = None
    for item in listed:
        if decoded_call is None or decoded_call[0] != item.call_id:
            call = library.get_call(item.call_id)
            decoded_call = (call.id, decode(library.audio_file(call), call.channel).samples)
        samples = decoded_call[1]
        a = int(item.start * SAMPLE_RATE)
        b = min(len(samples), int(np.ceil(item.end * SAMPLE_RATE)))
        piece = samples[a:b]
        if len(piece) == 0:
            continue
        if pieces:
            pieces.append(silence)
            offset += len(silence)
        entries.append(PlaylistEntry(item, offset / SAMPLE_RATE, len(piece) / SAMPLE_RATE))
        pieces.append(piece)
        offset += len(piece)
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return Playlist(joined, SAMPLE_RATE, tuple(entries))
