"""Plain records that cross module boundaries: calls, consents, segments, talk tracks, tags, hits.

They carry data only; the store (``library``) makes and saves them, everything else reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing, so playback can start exactly on it."""

    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A stretch of transcript as the speech model returned it."""

    start: float
    end: float
    text: str
    confidence: float
    words: tuple[Word, ...] = ()
    id: int | None = None
    track_id: int | None = None


@dataclass(frozen=True)
class Tag:
    """A label on a talk track: an objection or a custom tag, from the tagger or a person."""

    kind: str  # "objection" or "custom"
    value: str
    source: str  # "auto" or "person"
    confidence: float | None = None
    reason: str | None = None
    removed: bool = False


@dataclass(frozen=True)
class TalkTrack:
    """One rep turn: what a junior replays, tagged with the objections it answers."""

    id: int
    uuid: str
    call_id: str
    index: int
    start: float
    end: float
    text: str
    objections: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The keys the CLI contract names for talk tracks, and more."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "objections": list(self.objections),
            "tags": [t.value for t in self.tags if t.kind == "custom" and not t.removed],
            "why": {
                t.value: t.reason
                for t in self.tags
                if t.kind == "objection" and not t.removed and t.value in self.objections
            },
            "note": self.note,
        }


@dataclass(frozen=True)
class Consent:
    """How the other party agreed to the recording; every call has exactly one."""

    method: str
    given_at: str
    given_by: str | None = None
    announcement_played: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Marker:
    """A moment the rep flagged while recording, shown later as a bookmark."""

    at: float
    label: str | None = None


@dataclass(frozen=True)
class Call:
    """A recording in the library and where it stands in the pipeline."""

    id: str
    title: str
    rep: str | None
    recorded_at: str
    imported_at: str
    duration: float | None
    audio_path: str
    audio_hash: str
    status: str
    source: str | None = None
    channel: str = "mix"
    account: str | None = None
    recovered: bool = False
    dropped_samples: int = 0
    model: str | None = None
    progress: float | None = None
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The keys the CLI contract names for calls, and more."""
        data = asdict(self)
        data["duration"] = None if self.duration is None else round(self.duration, 3)
        return data


@dataclass(frozen=True)
class Job:
    """A transcription job leased by one worker at a time."""

    id: int
    call_id: str
    status: str
    attempts: int
    lease_owner: str | None = None
    lease_expires: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Hit:
    """A search result: a moment in a call that a junior can play."""

    call_id: str
    title: str
    start: float
    end: float
    text: str
    snippet: str
    objections: tuple[str, ...] = ()
    track_id: int | None = None
    segment_id: int | None = None
    rep: str | None = None
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The CLI contract's keys plus the talk track id and rep."""
        return {
            "call_id": self.call_id,
            "title": self.title,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "snippet": self.snippet,
            "objections": list(self.objections),
            "track_id": self.track_id,
            "rep": self.rep,
        }
