"""A call's transcript: talk tracks with their tags, segments, and bookmarks, following playback.

Each talk track is a heading (time, objections, tags, note) followed by its segments; the
bookmarks dropped while recording sit where they happened. The segment being heard is lit,
and within it the word being heard.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from shadowbox.models import Marker, Segment, TalkTrack

from ..formatting import clock

PLAYING_STYLE = "bold"
WORD_STYLE = "bold reverse"


@dataclass(frozen=True)
class Entry:
    """One line of the transcript: a track heading, a segment or a bookmark."""

    kind: str  # "track", "segment" or "marker"
    start: float
    track: TalkTrack | None = None
    segment: Segment | None = None
    marker: Marker | None = None

    @property
    def play_from(self) -> float:
        """Where playing this entry starts: a segment's first word, a track's, a bookmark's."""
        if self.segment is not None and self.segment.words:
            return self.segment.words[0].start
        return self.start


def effective_custom_tags(track: TalkTrack) -> list[str]:
    """The custom tags a track carries now (a person's latest decision for each)."""
    state: dict[str, tuple[str, bool]] = {}
    for tag in track.tags:
        if tag.kind == "custom":
            state.setdefault(tag.value.lower(), (tag.value, not tag.removed))
    return sorted(value for value, on in state.values() if on)


def person_objections(track: TalkTrack) -> set[str]:
    """Objections a person confirmed on this track (shown with a tick)."""
    return {
        t.value for t in track.tags
        if t.kind == "objection" and t.source == "person" and not t.removed
    }


def track_prompt(track: TalkTrack) -> Text:
    """The heading of a talk track: number, time range, objections, tags and a note mark."""
    text = Text()
    text.append(f"#{track.index + 1} ", style="bold")
    text.append(f"{clock(track.start)}-{clock(track.end)}", style="cyan")
    confirmed = person_objections(track)
    for objection in track.objections:
        text.append("  ")
        mark = " ✓" if objection in confirmed else ""
        text.append(f" {objection}{mark} ", style="black on yellow")
    for tag in effective_custom_tags(track):
        text.append("  ")
        text.append(f"#{tag}", style="bold magenta")
    if track.note:
        text.append("  ✎ ", style="green")
        text.append(track.note.splitlines()[0][:60], style="italic green")
    return text


def _timed(at: float, body: Text, mark: str = " ") -> Table:
    """A line with its time in a gutter, so wrapped text stays clear of the times."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=8, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(Text(f"{mark}{clock(at):>6}", style="dim"), body)
    return grid


def segment_prompt(segment: Segment, *, playing: bool = False, word: int | None = None) -> Table:
    """A segment's line; the one being heard is bold with its current word lit."""
    if not playing:
        return _timed(segment.start, Text(segment.text.strip()))
    text = Text()
    if not segment.words:
        text.append(segment.text.strip(), style=PLAYING_STYLE)
    for i, w in enumerate(segment.words):
        piece = w.word if i else w.word.lstrip()
        lead = len(piece) - len(piece.lstrip())
        text.append(piece[:lead], style=PLAYING_STYLE)
        text.append(piece[lead:], style=WORD_STYLE if i == word else PLAYING_STYLE)
    return _timed(segment.start, text, mark="▶")


def marker_prompt(marker: Marker) -> Table:
    """A bookmark dropped while recording."""
    text = Text("◆ ", style="bold yellow")
    text.append(marker.label or "bookmark", style="bold")
    return _timed(marker.at, text)


class Transcript(OptionList):
    """The transcript as a list: Enter on a line plays from it; playback moves the light."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Play from this line", show=False, id="transcript.play"),
    ]

    DEFAULT_CSS = """
    Transcript { height: 1fr; }
    """

    @dataclass
    class PlayFrom(Message):
        """A person chose a line to hear: play from ``at`` seconds."""

        at: float
        entry: Entry

    def __init__(self, *, id: str | None = None) -> None:
        """Empty until :meth:`show`."""
        super().__init__(id=id)
        self.entries: list[Entry] = []
        self._segment_rows: list[int] = []
        self._segment_starts: list[float] = []
        self._playing: tuple[int, int | None] | None = None
        self._auto_row: int | None = None
        self.following = True
        """Whether the cursor moves with playback (until a person moves it elsewhere)."""

    def show(self, tracks: Sequence[TalkTrack], segments: Sequence[Segment],
             markers: Sequence[Marker]) -> None:
        """Lay out the transcript: each track's heading, its segments, bookmarks in time order."""
        by_track: dict[int | None, list[Segment]] = {}
        for seg in segments:
            by_track.setdefault(seg.track_id, []).append(seg)
        entries: list[Entry] = []
        for track in tracks:
            entries.append(Entry("track", track.start, track=track))
            entries.extend(Entry("segment", s.start, segment=s) for s in by_track.get(track.id, []))
        known = {t.id for t in tracks}
        loose = [s for tid, segs in by_track.items() if tid not in known for s in segs]
        entries.extend(Entry("segment", s.start, segment=s) for s in loose)
        for marker in markers:
            at = next(
                (i for i, e in enumerate(entries) if e.kind != "track" and e.start > marker.at),
                len(entries),
            )
            entries.insert(at, Entry("marker", marker.at, marker=marker))
        self.entries = entries
        self._segment_rows = [i for i, e in enumerate(entries) if e.kind == "segment"]
        # A segment is heard from its first word (which a playhead placed there must light).
        self._segment_starts = [entries[i].play_from for i in self._segment_rows]
        self._playing = None
        self.set_options([Option(self._prompt(e), id=str(i)) for i, e in enumerate(entries)])
        if entries:
            self.highlighted = 0

    def _prompt(
        self, entry: Entry, *, playing: bool = False, word: int | None = None
    ) -> Text | Table:
        if entry.kind == "track" and entry.track is not None:
            return track_prompt(entry.track)
        if entry.kind == "marker" and entry.marker is not None:
            return marker_prompt(entry.marker)
        assert entry.segment is not None
        return segment_prompt(entry.segment, playing=playing, word=word)

    def update_tracks(self, tracks: Sequence[TalkTrack]) -> None:
        """Repaint track headings after tags or notes changed."""
        by_id = {t.id: t for t in tracks}
        for i, entry in enumerate(self.entries):
            if entry.kind == "track" and entry.track is not None and entry.track.id in by_id:
                self.entries[i] = Entry("track", entry.start, track=by_id[entry.track.id])
                self.replace_option_prompt_at_index(i, track_prompt(by_id[entry.track.id]))

    @property
    def tracks(self) -> list[TalkTrack]:
        """The talk tracks in order."""
        return [e.track for e in self.entries if e.track is not None]

    def track_play_from(self, track: TalkTrack) -> float:
        """Where a talk track starts being heard: its first segment's first word."""
        for i, entry in enumerate(self.entries):
            if entry.track is not None and entry.track.id == track.id:
                following = self.entries[i + 1 : i + 2]
                if following and following[0].kind == "segment":
                    return following[0].play_from
                break
        return track.start

    def track_at_cursor(self) -> TalkTrack | None:
        """The talk track the highlighted line belongs to."""
        if self.highlighted is None:
            return None
        for entry in reversed(self.entries[: self.highlighted + 1]):
            if entry.track is not None:
                return entry.track
        return None

    def row_of_segment(self, segment_id: int | None, at: float | None = None) -> int | None:
        """The line of a segment by id, or else of the segment heard at ``at`` seconds."""
        if segment_id is not None:
            for i in self._segment_rows:
                seg = self.entries[i].segment
                if seg is not None and seg.id == segment_id:
                    return i
        if at is not None and self._segment_rows:
            k = max(bisect.bisect_right(self._segment_starts, at + 1e-6) - 1, 0)
            return self._segment_rows[k]
        return None

    def follow(self, position: float) -> None:
        """Light the segment and word heard at ``position``; the cursor follows if it was there."""
        if not self._segment_rows:
            return
        k = bisect.bisect_right(self._segment_starts, position + 1e-6) - 1
        now: tuple[int, int | None] | None = None
        if k >= 0:
            row = self._segment_rows[k]
            seg = self.entries[row].segment
            assert seg is not None
            if position <= seg.end + 0.5:
                starts = [w.start for w in seg.words]
                word = bisect.bisect_right(starts, position + 1e-6) - 1 if starts else None
                now = (row, word if word is not None and word >= 0 else None)
        if now == self._playing:
            return
        before = self._playing
        self._playing = now
        if before is not None and (now is None or before[0] != now[0]):
            self.replace_option_prompt_at_index(before[0], self._prompt(self.entries[before[0]]))
        if now is not None:
            self.replace_option_prompt_at_index(
                now[0], self._prompt(self.entries[now[0]], playing=True, word=now[1])
            )
            if self.following and self.highlighted != now[0]:
                self._auto_row = now[0]
                self.highlighted = now[0]

    @property
    def playing_row(self) -> int | None:
        """The line being heard, if any."""
        return self._playing[0] if self._playing else None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """A person moving the cursor away from the line being heard stops the following."""
        if event.option_index != self._auto_row:
            self.following = event.option_index == self.playing_row
        self._auto_row = None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter (or a click) on a line plays from it."""
        event.stop()
        entry = self.entries[event.option_index]
        self.following = True
        self.post_message(self.PlayFrom(entry.play_from, entry))
