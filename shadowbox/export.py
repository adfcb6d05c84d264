"""Exports of one call's transcript: Markdown for reading, SRT and WebVTT for players, JSON.

Each renderer takes the call, its talk tracks and segments, and returns text; nothing here
touches the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .errors import ShadowboxError
from .models import Call, Consent, Marker, Segment, TalkTrack

FORMATS = ("md", "srt", "vtt", "json")


def clock(seconds: float, *, sep: str = ".", hours: bool = True) -> str:
    """Format seconds as ``HH:MM:SS.mmm`` (``sep`` is ``,`` for SRT)."""
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    text = f"{m:02d}:{s:02d}{sep}{ms:03d}"
    return f"{h:02d}:{text}" if hours or h else text


def short_clock(seconds: float) -> str:
    """Format seconds as ``M:SS`` (or ``H:MM:SS``) for people to read."""
    total = max(0, int(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def to_markdown(
    call: Call, tracks: Sequence[TalkTrack], consent: Consent, markers: Sequence[Marker] = ()
) -> str:
    """A readable transcript: one section per talk track with its time and objections."""
    lines = [f"# {call.title}", ""]
    meta = [
        f"- Rep: {call.rep or 'unknown'}",
        f"- Recorded: {call.recorded_at}",
        f"- Duration: {short_clock(call.duration or 0)}",
        f"- Consent: {consent.method}",
        f"- Call id: {call.id}",
    ]
    lines += [*meta, ""]
    if markers:
        lines += ["## Bookmarks", ""]
        lines += [f"- {short_clock(m.at)} {m.label or ''}".rstrip() for m in markers]
        lines.append("")
    lines += ["## Talk tracks", ""]
    for t in tracks:
        heading = f"### {short_clock(t.start)}–{short_clock(t.end)}"
        if t.objections:
            heading += " · " + ", ".join(t.objections)
        lines += [heading, "", t.text, ""]
        if t.note:
            lines += [f"> Note: {t.note}", ""]
    return "\n".join(lines).rstrip() + "\n"


def to_srt(segments: Sequence[Segment]) -> str:
    """SubRip subtitles, one cue per segment."""
    cues = [
        f"{i}\n{clock(s.start, sep=',')} --> {clock(s.end, sep=',')}\n{s.text}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(cues)


def to_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT subtitles, one cue per segment."""
    cues = [f"{clock(s.start)} --> {clock(s.end)}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_json(
    call: Call,
    tracks: Sequence[TalkTrack],
    segments: Sequence[Segment],
    consent: Consent,
    markers: Sequence[Marker] = (),
) -> str:
    """Everything about the call, with word timings, as JSON."""
    data = {
        "call": call.to_json(),
        "consent": {"method": consent.method, "given_at": consent.given_at,
                    "announcement_played": consent.announcement_played},
        "markers": [{"at": m.at, "label": m.label} for m in markers],
        "talk_tracks": [t.to_json() for t in tracks],
        "segments": [
            {
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "track_id": s.track_id,
                "words": [
                    {"start": round(w.start, 3), "end": round(w.end, 3), "word": w.word.strip(),
                     "probability": round(w.probability, 3)}
                    for w in s.words
                ],
            }
            for s in segments
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(
    fmt: str,
    call: Call,
    tracks: Sequence[TalkTrack],
    segments: Sequence[Segment],
    consent: Consent,
    markers: Sequence[Marker] = (),
) -> str:
    """Render a call in one of FORMATS."""
    if fmt == "md":
        return to_markdown(call, tracks, consent, markers)
    if fmt == "srt":
        return to_srt(segments)
    if fmt == "vtt":
        return to_vtt(segments)
    if fmt == "json":
        return to_json(call, tracks, segments, consent, markers)
    raise ShadowboxError(f"Export format {fmt!r}: choose one of {', '.join(FORMATS)}")
