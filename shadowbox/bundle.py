"""Bundles: one collection in one zip file, to hand to every new hire, and its import elsewhere.

A bundle holds::

    manifest.json                     format, version, provenance, the collection, its items
    items/<item id>/audio.opus        the item's audio, cut to its range (Ogg Opus, 16 kHz mono)
    items/<item id>/transcript.json   segments with word timings, talk tracks, tags and notes

Why Opus rather than FLAC: it is made for speech, so a minute of a rep's voice takes about
160 KiB at 24 kbit/s where FLAC needs about 1 MiB for the same 16 kHz mono, and bundles go
to every junior. Lossy is fine for listening; the transcript travels as text. PyAV's libopus
(bundled with faster-whisper, which Shadowbox decodes with everywhere) writes it about eight
times faster than libsndfile's, and the player and importer read it back with the same PyAV.

Import merges by stable ids: the collection's and items' UUIDs travel with them, and an
item whose call is not in the receiving library becomes a call of its own (a "clip" whose id
derives from the source call and range), with its audio and transcript, searchable and
playable like any other. Importing the same bundle twice adds nothing. A bundle is
untrusted input: everything is checked and unpacked into a temporary folder inside the
library before one transaction writes the rows and the files are moved into place; any
problem refuses the whole bundle with one line and leaves the library as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import struct
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__
from .audio import SAMPLE_RATE, decode
from .collections import ClipTrack, Collection, CollectionItem, clip_segments, shift_segments
from .config import CONSENT_METHODS
from .errors import AudioError, BundleError, NotFoundError
from .export import short_clock
from .library import Library, NewSegment, create_private_file, now_iso, track_uuid
from .models import Call, Consent, Segment, Tag, TalkTrack, Word
from .redact import mute, redact_segments, redact_text, widen_to_pauses

BUNDLE_FORMAT = "shadowbox-bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
AUDIO_NAME = "audio.opus"
TRANSCRIPT_NAME = "transcript.json"
# Clip calls made from bundle items get ids in this namespace, so the same item imported
# into any library becomes the same call.
CLIP_NAMESPACE = uuid.UUID("6d3c1a52-93a4-4b8e-9f57-7a0e5c2b1d40")
_ENTRY = re.compile(
    r"^items/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
    rf"(?P<file>{re.escape(AUDIO_NAME)}|{re.escape(TRANSCRIPT_NAME)})$"
)
# Speech at 24 kbit/s Opus is clear; it makes a minute of audio about 160 KiB.
OPUS_BITRATE = 24_000
_CLIP_MARK = re.compile(r" \(\d+:\d\d(?::\d\d)?–\d+:\d\d(?::\d\d)?\)$")
_TEXT_LIMIT = 200_000
_DURATION_SLACK = 0.5


@dataclass(frozen=True)
class BundleLimits:
    """What an imported bundle may unpack to; beyond it the bundle is refused as a zip bomb."""

    max_total_bytes: int = 1 << 30
    """All entries together, uncompressed (1 GiB is about 95 hours of bundled audio)."""
    max_ratio: float = 100.0
    """Uncompressed over compressed size, per entry and overall (JSON packs about 8:1)."""
    ratio_floor: int = 1 << 20
    """Entries and bundles smaller than this uncompressed are not held to the ratio."""
    max_entries: int = 10_000
    """How many files a bundle may hold."""
    max_json_bytes: int = 64 << 20
    """The most a manifest or transcript may take uncompressed."""


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote."""

    path: Path
    collection: Collection
    items: int
    bytes: int
    audio_seconds: float
    redacted: bool
    redactions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    """What an import changed (all zero when the bundle was already here)."""

    path: Path
    collection: Collection
    created_collection: bool
    added_items: int
    skipped_items: int
    new_calls: int
    forgotten_items: int
    renamed_from: str | None = None


# ---------------------------------------------------------------------- export


def export_bundle(
    library: Library,
    ref: str,
    path: Path,
    *,
    redact: bool = True,
) -> ExportReport:
    """Write a collection to one zip: audio cut to each item, transcripts, tags, notes, provenance.

    The zip appears complete or not at all (written beside ``path`` and renamed), owner-only,
    because it holds customers' voices.

    Args:
        library: the open library.
        ref: the collection's name or id.
        path: the zip file to write (replaced if it exists).
        redact: remove emails, phone numbers and long digit runs from the transcripts and
            notes and mute them in the audio (see ``redact``); on unless a person turns it off.
    """
    from .collections import items as collection_items

    collection = library.collection(ref)
    listed = collection_items(library, collection.id)
    if not listed:
        raise BundleError(f"Collection {collection.name!r}: it is empty; add talk tracks first")
    path = Path(path)
    if path.is_dir():
        raise BundleError(f"Bundle {path}: it is a folder; give a file name such as {path}/x.zip")
    if not path.parent.is_dir():
        raise BundleError(f"Bundle {path}: folder {path.parent} does not exist")
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    counts: Counter[str] = Counter()
    seconds = 0.0
    try:
        fd = create_private_file(partial)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            entries: list[dict[str, Any]] = []
            decoded: tuple[str, np.ndarray] | None = None
            cache: dict[str, tuple[list[Segment], list[TalkTrack]]] = {}
            for item in listed:
                call = library.get_call(item.call_id)
                if decoded is None or decoded[0] != call.id:
                    decoded = (call.id, decode(library.audio_file(call), call.channel).samples)
                if call.id not in cache:
                    cache[call.id] = (library.segments(call.id), library.talk_tracks(call.id))
                segments, tracks = cache[call.id]
                entry, item_counts, clip_seconds = _export_item(
                    zf, library, call, item, decoded[1], segments, tracks, redact
                )
                counts.update(item_counts)
                seconds += clip_seconds
                entries.append(entry)
            manifest = _manifest(library, collection, entries, redact, dict(counts))
            _write(zf, MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportReport(
        path=path, collection=collection, items=len(listed), bytes=path.stat().st_size,
        audio_seconds=seconds, redacted=redact, redactions=dict(counts),
    )


def _write(zf: zipfile.ZipFile, name: str, data: bytes, *, compress: bool = True) -> None:
    info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
    info.external_attr = (stat.S_IFREG | 0o600) << 16
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    zf.writestr(info, data)


def _export_item(
    zf: zipfile.ZipFile,
    library: Library,
    call: Call,
    item: CollectionItem,
    samples: np.ndarray,
    segments: list[Segment],
    tracks: list[TalkTrack],
    redact: bool,
) -> tuple[dict[str, Any], dict[str, int], float]:
    a = max(0, int(item.start * SAMPLE_RATE))
    b = min(len(samples), math.ceil(item.end * SAMPLE_RATE))
    clip = samples[a:b]
    if len(clip) == 0:
        raise BundleError(
            f"Item {item.position} of the collection: {item.title!r} has no audio at "
            f"{short_clock(item.start)}-{short_clock(item.end)}"
        )
    duration = len(clip) / SAMPLE_RATE
    local = shift_segments(clip_segments(segments, item.start, item.end), item.start)
    counts: dict[str, int] = {}
    if redact:
        redacted = redact_segments(local, clip_start=0.0, clip_end=duration)
        local = list(redacted.segments)
        clip = mute(clip, SAMPLE_RATE, widen_to_pauses(redacted.spans, clip, SAMPLE_RATE))
        counts = dict(redacted.counts)

    def clean(text: str | None) -> str | None:
        if text is None or not redact:
            return text
        result = redact_text(text)
        for kind, n in result.counts.items():
            counts[kind] = counts.get(kind, 0) + n
        return result.text

    clip_tracks: list[dict[str, Any]] = []
    index_of: dict[int, int] = {}
    for t in tracks:
        mine = [s for s in local if s.track_id == t.id]
        if not mine:
            continue
        index_of[t.id] = len(clip_tracks)
        clip_tracks.append({
            "index": len(clip_tracks),
            "source_uuid": t.uuid,
            "start": round(mine[0].start, 3),
            "end": round(mine[-1].end, 3),
            "text": " ".join(s.text.strip() for s in mine if s.text.strip()),
            "note": clean(t.note),
            "tags": [
                {"kind": g.kind, "value": g.value, "source": g.source,
                 "confidence": g.confidence, "reason": clean(g.reason), "removed": g.removed}
                for g in t.tags
            ],
        })
    transcript = {
        "segments": [
            {
                "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
                "confidence": round(s.confidence, 4),
                "track": index_of.get(s.track_id) if s.track_id is not None else None,
                "words": [
                    [round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 3)]
                    for w in s.words
                ],
            }
            for s in local
        ],
        "talk_tracks": clip_tracks,
    }
    audio = _encode_opus(clip)
    transcript_bytes = json.dumps(transcript, ensure_ascii=False).encode()
    base = f"items/{item.id}"
    _write(zf, f"{base}/{AUDIO_NAME}", audio, compress=False)
    _write(zf, f"{base}/{TRANSCRIPT_NAME}", transcript_bytes)
    consent = library.consent(call.id)
    source_track = library.talk_track(item.track_id) if item.track_id is not None else None
    entry = {
        "id": item.id,
        "position": item.position,
        "note": clean(item.note),
        "added_at": item.added_at,
        "duration": round(duration, 3),
        "source": {
            "call_id": call.id,
            "title": call.title,
            "rep": call.rep,
            "recorded_at": call.recorded_at,
            "start": round(item.start, 3),
            "end": round(item.end, 3),
            "track_uuid": source_track.uuid if source_track else None,
            "consent": {"method": consent.method, "given_at": consent.given_at},
        },
        "audio": {
            "path": f"{base}/{AUDIO_NAME}", "sha256": hashlib.sha256(audio).hexdigest(),
            "bytes": len(audio), "codec": "opus", "sample_rate": SAMPLE_RATE,
        },
        "transcript": {
            "path": f"{base}/{TRANSCRIPT_NAME}",
            "sha256": hashlib.sha256(transcript_bytes).hexdigest(),
            "bytes": len(transcript_bytes),
        },
    }
    return entry, counts, duration


def _encode_opus(samples: np.ndarray) -> bytes:
    """Ogg Opus at OPUS_BITRATE, tuned for voice, 16 kHz mono."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = OPUS_BITRATE
        stream.codec_context.options = {"application": "voip"}
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = 0
        frame.time_base = Fraction(1, SAMPLE_RATE)
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _manifest(
    library: Library,
    collection: Collection,
    entries: list[dict[str, Any]],
    redacted: bool,
    counts: dict[str, int],
) -> dict[str, Any]:
    description = collection.description
    if redacted and description:
        description = redact_text(description).text
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "provenance": {
            "library_id": library.library_id(),
            "curator": collection.curator,
            "exported_at": now_iso(),
            "shadowbox_version": __version__,
        },
        "redacted": redacted,
        "redactions": counts,
        "collection": {
            "id": collection.id,
            "name": collection.name,
            "description": description,
            "curator": collection.curator,
            "created_at": collection.created_at,
            "origin": collection.origin,
        },
        "items": entries,
    }


# ---------------------------------------------------------------------- checking


class _Refused(Exception):
    """Internal: the reason a bundle is refused (wrapped into one BundleError line)."""


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _field(obj: object, key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise _Refused(f"{where} is not a JSON object")
    if key not in obj:
        raise _Refused(f"{where} has no {key!r}")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise _Refused(f"{where}: {key!r} has the wrong type")
    if not isinstance(value, kinds):
        raise _Refused(f"{where}: {key!r} has the wrong type")
    if isinstance(value, str) and len(value) > _TEXT_LIMIT:
        raise _Refused(f"{where}: {key!r} is too long")
    return value


def _text(obj: object, key: str, where: str, *, optional: bool = False) -> str | None:
    if optional and isinstance(obj, dict) and obj.get(key) is None:
        return None
    value = _field(obj, key, str, where)
    return str(value)


def _number(obj: object, key: str, where: str, *, optional: bool = False) -> float | None:
    if optional and isinstance(obj, dict) and obj.get(key) is None:
        return None
    value = float(_field(obj, key, (int, float), where))
    if not math.isfinite(value) or value < 0:
        raise _Refused(f"{where}: {key!r} is not a time or size")
    return value


def _list(obj: object, key: str, where: str) -> list[Any]:
    value = _field(obj, key, list, where)
    return list(value)


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


def _check_entries(infos: Sequence[zipfile.ZipInfo], limits: BundleLimits) -> None:
    """Refuse what must never be unpacked: escapes, links, bombs, duplicates, strangers."""
    if len(infos) > limits.max_entries:
        raise _Refused(f"it holds {len(infos)} files (at most {limits.max_entries})")
    seen = Counter(i.orig_filename for i in infos)
    for name, n in seen.items():
        if n > 1:
            raise _Refused(f"entry {name!r} appears {n} times")
    total = packed = 0
    for info in infos:
        name = info.orig_filename
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise _Refused(f"entry {name!r} is a symbolic link")
        if kind not in (0, stat.S_IFREG):
            raise _Refused(f"entry {name!r} is not a plain file")
        if "\x00" in name or "\\" in name:
            raise _Refused(f"entry {name!r} has a forbidden character in its name")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise _Refused(f"entry {name!r} has an absolute path")
        if ".." in name.split("/"):
            raise _Refused(f"entry {name!r} escapes the bundle folder")
        if info.flag_bits & 0x1:
            raise _Refused(f"entry {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Refused(f"entry {name!r} uses an unsupported compression method")
        if name != MANIFEST and not _ENTRY.match(name):
            raise _Refused(f"entry {name!r} is not part of a Shadowbox bundle")
        total += info.file_size
        packed += info.compress_size
        if total > limits.max_total_bytes:
            raise _Refused(
                f"it unpacks to more than {_size(limits.max_total_bytes)} (a zip bomb?)"
            )
        if (
            info.file_size > limits.ratio_floor
            and info.file_size > limits.max_ratio * max(info.compress_size, 1)
        ):
            raise _Refused(
                f"entry {name!r} expands {info.file_size / max(info.compress_size, 1):.0f} "
                f"times (a zip bomb?; at most {limits.max_ratio:.0f})"
            )
    if total > limits.ratio_floor and total > limits.max_ratio * max(packed, 1):
        raise _Refused(f"it expands {total / max(packed, 1):.0f} times overall (a zip bomb?)")


def _copy_capped(
    stream: IO[bytes], cap: int, name: str, out: IO[bytes] | None = None
) -> tuple[bytes, str]:
    """Read an entry, refusing it as soon as it gives more than ``cap`` bytes (lying headers).

    Returns the bytes (when not written to ``out``) and their SHA-256.
    """
    chunks: list[bytes] = []
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        size += len(chunk)
        if size > cap:
            raise _Refused(f"entry {name!r} unpacks to more than its header says (a zip bomb?)")
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
        else:
            chunks.append(chunk)
    return b"".join(chunks), digest.hexdigest()


@dataclass(frozen=True)
class _Item:
    id: str
    position: int
    note: str | None
    added_at: str | None
    duration: float
    source_call: str
    title: str
    rep: str | None
    recorded_at: str | None
    start: float
    end: float
    track_uuid: str | None
    consent_method: str
    consent_given_at: str
    audio_path: str
    audio_sha256: str
    transcript_path: str
    transcript_sha256: str


@dataclass(frozen=True)
class _Manifest:
    collection_id: str
    name: str
    description: str | None
    curator: str | None
    created_at: str | None
    origin: str | None
    library_id: str | None
    items: tuple[_Item, ...]


def _parse_manifest(data: bytes) -> _Manifest:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Refused("manifest.json is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _Refused(f"manifest.json is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise _Refused("manifest.json does not describe a Shadowbox bundle")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Refused("manifest.json has no valid version")
    if version > BUNDLE_VERSION:
        raise _Refused(
            f"it was written by a newer Shadowbox (bundle version {version}; this one reads up "
            f"to {BUNDLE_VERSION}); upgrade Shadowbox to import it"
        )
    coll = _field(doc, "collection", dict, "manifest")
    collection_id = _text(coll, "id", "collection")
    if not _is_uuid(collection_id):
        raise _Refused("the collection id is not a UUID")
    name = _text(coll, "name", "collection") or ""
    if not name.strip() or len(name) > 500:
        raise _Refused("the collection has no usable name")
    provenance = doc.get("provenance")
    library_id = _text(provenance, "library_id", "provenance", optional=True) if isinstance(
        provenance, dict
    ) else None
    items: list[_Item] = []
    for n, raw in enumerate(_list(doc, "items", "manifest"), 1):
        where = f"item {n}"
        item_id = _text(raw, "id", where)
        if not _is_uuid(item_id) or item_id != str(item_id).lower():
            raise _Refused(f"{where}: its id is not a UUID")
        source = _field(raw, "source", dict, where)
        call_id = _text(source, "call_id", f"{where} source")
        if not _is_uuid(call_id):
            raise _Refused(f"{where}: its call id is not a UUID")
        start = _number(source, "start", f"{where} source") or 0.0
        end = _number(source, "end", f"{where} source") or 0.0
        if end <= start:
            raise _Refused(f"{where}: it ends before it starts")
        track = _text(source, "track_uuid", f"{where} source", optional=True)
        if track is not None and not _is_uuid(track):
            raise _Refused(f"{where}: its talk track id is not a UUID")
        consent = _field(source, "consent", dict, f"{where} source")
        method = _text(consent, "method", f"{where} consent")
        if method not in CONSENT_METHODS:
            raise _Refused(f"{where}: consent method {method!r} is not one Shadowbox knows")
        audio = _field(raw, "audio", dict, where)
        transcript = _field(raw, "transcript", dict, where)
        audio_path = _text(audio, "path", f"{where} audio")
        transcript_path = _text(transcript, "path", f"{where} transcript")
        if audio_path != f"items/{item_id}/{AUDIO_NAME}" or transcript_path != (
            f"items/{item_id}/{TRANSCRIPT_NAME}"
        ):
            raise _Refused(f"{where}: its files are not where a bundle keeps them")
        position = _field(raw, "position", int, where)
        items.append(
            _Item(
                id=str(item_id), position=int(position), note=_text(raw, "note", where,
                                                                      optional=True),
                added_at=_text(raw, "added_at", where, optional=True),
                duration=_number(raw, "duration", where) or 0.0,
                source_call=str(call_id), title=_text(source, "title", f"{where} source") or "",
                rep=_text(source, "rep", f"{where} source", optional=True),
                recorded_at=_text(source, "recorded_at", f"{where} source", optional=True),
                start=start, end=end, track_uuid=track, consent_method=str(method),
                consent_given_at=_text(consent, "given_at", f"{where} consent") or "",
                audio_path=str(audio_path),
                audio_sha256=_text(audio, "sha256", f"{where} audio") or "",
                transcript_path=str(transcript_path),
                transcript_sha256=_text(transcript, "sha256", f"{where} transcript") or "",
            )
        )
    ids = Counter(i.id for i in items)
    for item_id, count in ids.items():
        if count > 1:
            raise _Refused(f"item {item_id} is listed {count} times")
    return _Manifest(
        collection_id=str(collection_id), name=" ".join(name.split()),
        description=_text(coll, "description", "collection", optional=True),
        curator=_text(coll, "curator", "collection", optional=True),
        created_at=_text(coll, "created_at", "collection", optional=True),
        origin=_text(coll, "origin", "collection", optional=True),
        library_id=library_id, items=tuple(sorted(items, key=lambda i: i.position)),
    )


@dataclass(frozen=True)
class _Transcript:
    tracks: tuple[ClipTrack, ...]
    segments: tuple[NewSegment, ...]


def _parse_transcript(data: bytes, item: _Item) -> _Transcript:
    """Check a transcript from a bundle; talk tracks get their ids when the call is known."""
    where = f"transcript of item {item.position}"
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Refused(f"the {where} is not valid JSON") from None
    limit = item.duration + _DURATION_SLACK

    def times(obj: object, label: str) -> tuple[float, float]:
        start = _number(obj, "start", label) or 0.0
        end = _number(obj, "end", label) or 0.0
        if end < start or end > limit:
            raise _Refused(f"{label}: its times are outside the item")
        return start, end

    tracks: list[ClipTrack] = []
    for n, raw in enumerate(_list(doc, "talk_tracks", where)):
        label = f"{where}, talk track {n + 1}"
        start, end = times(raw, label)
        if _field(raw, "index", int, label) != n:
            raise _Refused(f"{label}: talk tracks are out of order")
        tags: list[Tag] = []
        for g in _list(raw, "tags", label):
            kind = _text(g, "kind", label)
            source = _text(g, "source", label)
            if kind not in ("objection", "custom") or source not in ("auto", "person"):
                raise _Refused(f"{label}: a tag has an unknown kind or source")
            value = (_text(g, "value", label) or "").strip()
            if not value:
                raise _Refused(f"{label}: a tag has no value")
            confidence = _number(g, "confidence", label, optional=True)
            tags.append(Tag(kind=str(kind), value=value, source=str(source),
                            confidence=confidence, reason=_text(g, "reason", label,
                                                                optional=True),
                            removed=bool(_field(g, "removed", bool, label))))
        tracks.append(
            ClipTrack(
                index=n, uuid="", start=start, end=end,
                text=_text(raw, "text", label) or "", note=_text(raw, "note", label,
                                                                 optional=True),
                tags=tuple(tags),
            )
        )
    segments: list[NewSegment] = []
    for n, raw in enumerate(_list(doc, "segments", where)):
        label = f"{where}, segment {n + 1}"
        start, end = times(raw, label)
        track = raw.get("track") if isinstance(raw, dict) else None
        if track is not None and (
            not isinstance(track, int) or isinstance(track, bool) or not 0 <= track < len(tracks)
        ):
            raise _Refused(f"{label}: it names a talk track that is not there")
        words: list[Word] = []
        for w in _list(raw, "words", label):
            if (
                not isinstance(w, list) or len(w) != 4 or not isinstance(w[2], str)
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                           and math.isfinite(x) for x in (w[0], w[1], w[3]))
                or not 0 <= w[0] <= w[1] <= limit or len(w[2]) > 1000
            ):
                raise _Refused(f"{label}: a word timing is malformed")
            words.append(Word(float(w[0]), float(w[1]), w[2], float(w[3])))
        segments.append(
            NewSegment(
                Segment(start=start, end=end, text=_text(raw, "text", label) or "",
                        confidence=_number(raw, "confidence", label, optional=True) or 0.0,
                        words=tuple(words)),
                track_index=track if track is not None else -1,
            )
        )
    return _Transcript(tuple(tracks), tuple(segments))


# ---------------------------------------------------------------------- import


@dataclass
class _Plan:
    item: _Item
    skip: str | None = None  # "present" (already in the library) or "forgotten"
    clip: bool = False
    call_id: str | None = None
    track_id: int | None = None
    start: float = 0.0
    end: float = 0.0
    new_call: Call | None = None
    transcript: _Transcript | None = None
    audio_file: Path | None = None
    audio_hash: str = ""
    duration: float = 0.0


def import_bundle(
    library: Library, path: Path, *, limits: BundleLimits | None = None
) -> ImportReport:
    """Merge a bundle into the library, all or nothing.

    The collection and its items keep their UUIDs: items already here are skipped, so the
    same bundle imported twice adds nothing. Items from calls this library has are linked
    to them; others become clip calls (audio, transcript, tags) that search and play like
    local ones. Items of calls erased here are not brought back.

    Args:
        library: the open library to merge into.
        path: the bundle (a zip written by :func:`export_bundle`).
        limits: size and ratio caps (defaults guard against zip bombs).

    Raises BundleError, in one line naming the bundle and the reason, for anything
    malformed or hostile; the library is then exactly as it was.
    """
    path = Path(path)
    limits = limits or BundleLimits()
    if not path.is_file():
        raise BundleError(f"Bundle {path}: no such file")
    staging = library.root / f".bundle-{uuid.uuid4().hex}"
    try:
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise _Refused("it is not a zip file") from None
        with zf:
            manifest, plans = _unpack(library, zf, staging, limits)
        return _commit(library, path, manifest, plans)
    except _Refused as exc:
        raise BundleError(f"Bundle {path.name} refused: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError,
            NotImplementedError, ValueError) as exc:
        raise BundleError(f"Bundle {path.name} refused: it is damaged ({exc})") from None
    except OSError as exc:
        raise BundleError(
            f"Bundle {path.name}: could not read or unpack it ({exc.strerror or exc})"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(
    library: Library, zf: zipfile.ZipFile, staging: Path, limits: BundleLimits
) -> tuple[_Manifest, list[_Plan]]:
    """Check everything, unpack into ``staging`` and plan the import; writes nothing else."""
    infos = zf.infolist()
    _check_entries(infos, limits)
    by_name = {i.orig_filename: i for i in infos}
    if MANIFEST not in by_name:
        raise _Refused("it has no manifest.json (not a Shadowbox bundle)")
    manifest_info = by_name[MANIFEST]
    if manifest_info.file_size > limits.max_json_bytes:
        raise _Refused("manifest.json is too large")
    with zf.open(manifest_info) as fh:
        manifest = _parse_manifest(_copy_capped(fh, manifest_info.file_size, MANIFEST)[0])
    expected = {MANIFEST} | {p for i in manifest.items for p in (i.audio_path, i.transcript_path)}
    for name in by_name:
        if name not in expected:
            raise _Refused(f"entry {name!r} is not listed in the manifest")
    for name in expected:
        if name not in by_name:
            raise _Refused(f"entry {name!r} is listed in the manifest but missing")
    staging.mkdir(mode=0o700)
    # Every item is unpacked and checked, even one already here: a bundle is refused or
    # accepted as a whole, never judged by the parts this library happens to lack.
    checked = [_check_item(zf, by_name, item, staging, limits) for item in manifest.items]
    plans: list[_Plan] = []
    planned_clips: dict[str, _Plan] = {}
    for item, (audio_file, duration, transcript) in zip(manifest.items, checked, strict=True):
        plan = _Plan(item)
        plans.append(plan)
        if library.collection_item(item.id) is not None:
            plan.skip = "present"
            continue
        if library.is_forgotten(item.source_call):
            plan.skip = "forgotten"
            continue
        local = _call_with_id(library, item.source_call)
        if local is not None:
            plan.call_id, plan.start, plan.end = local.id, item.start, item.end
            plan.track_id = _local_track(library, item.track_uuid, local.id)
            continue
        clip_id = clip_call_id(item.source_call, item.start, item.end)
        if library.is_forgotten(clip_id):
            plan.skip = "forgotten"
            continue
        plan.clip = True
        plan.start, plan.end = 0.0, min(item.end - item.start, duration)
        existing = _call_with_id(library, clip_id) or (
            planned_clips[clip_id].new_call if clip_id in planned_clips else None
        )
        if existing is None:
            existing = library.call_by_hash(item.audio_sha256)
            plan.clip = existing is None  # the same audio already here under another id
        if existing is not None:
            plan.call_id = existing.id
            plan.end = min(plan.end, existing.duration or plan.end)
            continue
        plan.call_id = clip_id
        plan.transcript = _Transcript(
            tuple(replace(t, uuid=track_uuid(clip_id, t.start)) for t in transcript.tracks),
            transcript.segments,
        )
        plan.audio_file, plan.audio_hash, plan.duration = audio_file, item.audio_sha256, duration
        plan.new_call = Call(
            id=clip_id, title=_clip_title(item), rep=item.rep,
            recorded_at=item.recorded_at or now_iso(), imported_at=now_iso(),
            duration=duration, audio_path=f"audio/{clip_id}.opus", audio_hash=item.audio_sha256,
            status="ready",
        )
        planned_clips[clip_id] = plan
    return manifest, plans


def _check_item(
    zf: zipfile.ZipFile,
    by_name: dict[str, zipfile.ZipInfo],
    item: _Item,
    staging: Path,
    limits: BundleLimits,
) -> tuple[Path, float, _Transcript]:
    """Unpack one item's files into the staging folder and check them: hashes, audio, JSON."""
    transcript_info = by_name[item.transcript_path]
    if transcript_info.file_size > limits.max_json_bytes:
        raise _Refused(f"the transcript of item {item.position} is too large")
    audio_file = _extract(zf, by_name[item.audio_path], staging, item.audio_sha256, limits)
    transcript_file = _extract(zf, transcript_info, staging, item.transcript_sha256, limits)
    try:
        duration = decode(audio_file).duration
    except AudioError:
        raise _Refused(f"the audio of item {item.position} is not readable audio") from None
    if abs(duration - item.duration) > _DURATION_SLACK:
        raise _Refused(
            f"the audio of item {item.position} lasts {duration:.1f} s, not the "
            f"{item.duration:.1f} s the manifest says"
        )
    transcript = _parse_transcript(transcript_file.read_bytes(), item)
    return audio_file, duration, transcript


def clip_call_id(source_call: str, start: float, end: float) -> str:
    """The id of the call a bundle item becomes: the same item gives the same id anywhere."""
    return str(uuid.uuid5(CLIP_NAMESPACE, f"{source_call}@{start:.3f}-{end:.3f}"))


def _call_with_id(library: Library, call_id: str) -> Call | None:
    try:
        call = library.get_call(call_id)
    except NotFoundError:
        return None
    return call if call.id == call_id else None


def _local_track(library: Library, track: str | None, call_id: str) -> int | None:
    if track is None:
        return None
    found = library.talk_track_by_uuid(track)
    return found.id if found is not None and found.call_id == call_id else None


def _clip_track(library: Library, plan: _Plan) -> int | None:
    """The talk track an item names, in the clip call made for it (a clip of one track)."""
    if plan.item.track_uuid is None or plan.call_id is None:
        return None
    tracks = library.talk_tracks(plan.call_id)
    return tracks[0].id if len(tracks) == 1 else None


def _clip_title(item: _Item) -> str:
    """The source title and the range it came from, once (a clip of a clip keeps the first)."""
    if _CLIP_MARK.search(item.title):
        return item.title
    return f"{item.title} ({short_clock(item.start)}–{short_clock(item.end)})"


def _extract(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, staging: Path, sha256: str, limits: BundleLimits
) -> Path:
    """Unpack one entry into the staging folder under a name of our own, checking its hash."""
    target = staging / uuid.uuid4().hex
    fd = create_private_file(target)
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        _, digest = _copy_capped(
            src, min(info.file_size, limits.max_total_bytes), info.orig_filename, out
        )
    if digest != sha256:
        raise _Refused(f"entry {info.orig_filename!r} does not match its checksum")
    return target


def _commit(library: Library, path: Path, manifest: _Manifest, plans: list[_Plan]) -> ImportReport:
    """Write everything in one transaction; move the audio in before it commits."""
    existing = library.collection_by_id(manifest.collection_id)
    name, renamed_from = manifest.name, None
    if existing is None and library.collection_name_taken(name):
        renamed_from = name
        n = 2
        while library.collection_name_taken(f"{manifest.name} ({n})"):
            n += 1
        name = f"{manifest.name} ({n})"
    moved: list[Path] = []
    added = skipped = forgotten = new_calls = 0
    try:
        with library.write():
            if existing is None:
                library.create_collection(
                    collection_id=manifest.collection_id, name=name,
                    description=manifest.description, curator=manifest.curator,
                    origin=manifest.origin or manifest.library_id,
                    created_at=manifest.created_at,
                )
            for plan in plans:
                if plan.skip is not None or plan.call_id is None:
                    skipped += plan.skip == "present"
                    forgotten += plan.skip == "forgotten"
                    continue
                if plan.new_call is not None:
                    _add_clip_call(library, path, manifest, plan, moved)
                    new_calls += 1
                if plan.clip:
                    plan.track_id = _clip_track(library, plan)
                library.add_collection_item(
                    item_id=plan.item.id, collection_id=manifest.collection_id,
                    call_id=plan.call_id, start=plan.start, end=max(plan.end, plan.start + 0.01),
                    track_id=plan.track_id, note=plan.item.note, added_at=plan.item.added_at,
                )
                added += 1
    except BaseException:
        if library.conn.in_transaction:
            library.conn.execute("ROLLBACK")
        for p in moved:
            p.unlink(missing_ok=True)
        raise
    collection = library.collection(manifest.collection_id)
    return ImportReport(
        path=path, collection=collection, created_collection=existing is None,
        added_items=added, skipped_items=skipped, new_calls=new_calls,
        forgotten_items=forgotten, renamed_from=renamed_from,
    )


def _add_clip_call(
    library: Library, path: Path, manifest: _Manifest, plan: _Plan, moved: list[Path]
) -> None:
    call = plan.new_call
    assert call is not None and plan.transcript is not None and plan.audio_file is not None
    item = plan.item
    origin = manifest.library_id or "another library"
    library.add_call(
        call_id=call.id, title=call.title, audio_path=call.audio_path,
        audio_hash=call.audio_hash, duration=call.duration, rep=call.rep,
        recorded_at=call.recorded_at, source=f"{path.name} (bundle)", status="ready",
        consent=Consent(
            method=item.consent_method, given_at=item.consent_given_at, given_by=item.rep,
            note=f"carried in bundle {path.name} from library {origin} (call {item.source_call})",
        ),
        queue=False,
    )
    library.add_clip_transcript(call.id, plan.transcript.tracks, plan.transcript.segments)
    target = library.root / call.audio_path
    if target.exists():
        raise BundleError(f"Bundle {path.name}: {target} already exists; not overwriting it")
    os.replace(plan.audio_file, target)
    moved.append(target)

