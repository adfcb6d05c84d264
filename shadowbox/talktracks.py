"""Cutting a transcript into talk tracks: one rep turn each, split where the rep fell silent.

Only the rep's side is recorded, so a pause of a second or two is usually the other party
talking. Pauses are found in the audio by voice activity detection (Whisper's word timings
stretch into silences and shrink a 2 s gap to 1 s); each pause splits the transcript between
the two words around it, even inside a segment. Very short turns ("Sure.") join a neighbour.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from .models import Segment, Word

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


def _words(seg: Segment) -> tuple[Word, ...]:
    return seg.words or (Word(seg.start, seg.end, seg.text, seg.confidence),)


def _breaks(
    segments: Sequence[Segment], pause: float, pauses: Sequence[tuple[float, float]] | None
) -> list[list[bool]]:
    """For each word of each segment: does a new turn start before it?"""
    centres = sorted((a + b) / 2 for a, b in pauses or () if b - a >= pause)
    flags: list[list[bool]] = []
    prev: Word | None = None
    for seg in segments:
        row = []
        for word in _words(seg):
            if prev is None:
                row.append(False)
            elif pauses is not None:
                lo = (prev.start + prev.end) / 2
                hi = (word.start + word.end) / 2
                i = bisect_left(centres, lo)
                row.append(i < len(centres) and centres[i] < hi)
            else:
                row.append(word.start - prev.end >= pause)
            prev = word
        flags.append(row)
    return flags


def _piece(seg: Segment, words: tuple[Word, ...]) -> Segment:
    if not seg.words or len(words) == len(seg.words):
        return seg
    return Segment(
        start=words[0].start, end=words[-1].end, text="".join(w.word for w in words).strip(),
        confidence=seg.confidence, words=words,
    )


def cut_talk_tracks(
    segments: Sequence[Segment],
    pause: float = DEFAULT_PAUSE,
    min_track: float = DEFAULT_MIN_TRACK,
    pauses: Sequence[tuple[float, float]] | None = None,
) -> list[Turn]:
    """Group a transcript into rep turns.

    Args:
        segments: the transcript in time order.
        pause: a silence at least this long (seconds) ends a turn.
        min_track: a turn shorter than this, and of few words, joins its nearer neighbour.
        pauses: silences found in the audio as (start, end) seconds; when None, gaps between
            word timings are used instead (less exact).
    """
    flags = _breaks(segments, pause, pauses)
    turns: list[list[Segment]] = []
    for seg, row in zip(segments, flags, strict=True):
        words = _words(seg)
        start = 0
        for i in range(1, len(words) + 1):
            if i < len(words) and not row[i]:
                continue
            piece = _piece(seg, words[start:i])
            if not turns or row[start]:
                turns.append([piece])
            else:
                turns[-1].append(piece)
            start = i
    built = [Turn(t[0].start, t[-1].end, tuple(t)) for t in turns]
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
