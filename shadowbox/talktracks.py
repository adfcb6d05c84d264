"""Cutting a transcript into talk tracks: one rep turn each, split where the rep fell silent.

Only the rep's side is recorded, so a pause of a second or two is usually the other party
talking. Segments are first split at such pauses (Whisper sometimes runs one segment across
them), then grouped into turns; very short turns ("Sure.") are merged into a neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .models import Segment

DEFAULT_PAUSE = 1.2
DEFAULT_MIN_TRACK = 3.0
# A turn this short and with this few words is an aside, not a talk track of its own.
SHORT_WORDS = 6


@dataclass(frozen=True)
class Turn:
    """A talk track before it is stored: its time span and the segments it holds."""

    start: float
    end: float
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        """The turn's words as one paragraph."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def word_count(self) -> int:
        """How many words the turn holds."""
        return len(self.text.split())


def split_at_pauses(segments: Sequence[Segment], pause: float = DEFAULT_PAUSE) -> list[Segment]:
    """Split any segment whose words have a gap of at least ``pause`` seconds inside it."""
    out: list[Segment] = []
    for seg in segments:
        if len(seg.words) < 2:
            out.append(seg)
            continue
        pieces: list[list[int]] = [[0]]
        for i in range(1, len(seg.words)):
            if seg.words[i].start - seg.words[i - 1].end >= pause:
                pieces.append([i])
            else:
                pieces[-1].append(i)
        if len(pieces) == 1:
            out.append(seg)
            continue
        for idx in pieces:
            words = tuple(seg.words[i] for i in idx)
            out.append(
                Segment(
                    start=words[0].start,
                    end=words[-1].end,
                    text="".join(w.word for w in words).strip(),
                    confidence=seg.confidence,
                    words=words,
                )
            )
    return out


def _bounds(seg: Segment) -> tuple[float, float]:
    if seg.words:
        return seg.words[0].start, seg.words[-1].end
    return seg.start, seg.end


def group_turns(
    segments: Sequence[Segment],
    pause: float = DEFAULT_PAUSE,
    min_track: float = DEFAULT_MIN_TRACK,
) -> list[Turn]:
    """Group segments into rep turns.

    Args:
        segments: the transcript in time order (already split with :func:`split_at_pauses`).
        pause: a silence of at least this many seconds between words ends a turn.
        min_track: a turn shorter than this (and of few words) joins its nearer neighbour.
    """
    turns: list[list[Segment]] = []
    last_end: float | None = None
    for seg in segments:
        start, end = _bounds(seg)
        if last_end is None or start - last_end >= pause:
            turns.append([seg])
        else:
            turns[-1].append(seg)
        last_end = end
    built = [Turn(_bounds(t[0])[0], _bounds(t[-1])[1], tuple(t)) for t in turns]
    return _merge_short(built, min_track)


def _merge_short(turns: list[Turn], min_track: float) -> list[Turn]:
    changed = True
    while changed and len(turns) > 1:
        changed = False
        for i, turn in enumerate(turns):
            if turn.end - turn.start >= min_track or turn.word_count > SHORT_WORDS:
                continue
            gap_before = turn.start - turns[i - 1].end if i > 0 else float("inf")
            gap_after = turns[i + 1].start - turn.end if i + 1 < len(turns) else float("inf")
            j = i - 1 if gap_before <= gap_after else i + 1
            a, b = sorted((i, j))
            merged = Turn(turns[a].start, turns[b].end, turns[a].segments + turns[b].segments)
            turns[a : b + 1] = [merged]
            changed = True
            break
    return turns


def cut_talk_tracks(
    segments: Sequence[Segment],
    pause: float = DEFAULT_PAUSE,
    min_track: float = DEFAULT_MIN_TRACK,
) -> list[Turn]:
    """The whole cut: split segments at pauses, then group them into turns."""
    return group_turns(split_at_pauses(segments, pause), pause, min_track)
