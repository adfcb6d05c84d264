"""The call screen: the transcript following playback, talk tracks' tags, the player bar."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static

from shadowbox.errors import ShadowboxError
from shadowbox.models import Call, Consent, Marker, Segment, TalkTrack

from ..context import AppContext
from ..formatting import clock, day
from ..messages import LibraryChanged, ReportsWorkerErrors
from ..widgets.player_bar import PlayerBar
from ..widgets.transcript import Transcript, effective_custom_tags
from .collection_dialogs import AddChoice, AddToCollectionScreen
from .tagging import NoteScreen, TagChoice, TagScreen

if TYPE_CHECKING:
    from shadowbox.playback import Player

_SEEK = Binding.Group("Seek", compact=True)
_TRACK = Binding.Group("Track", compact=True)
_SPEED = Binding.Group("Speed", compact=True)
TICK_SECONDS = 0.05
"""How often the player bar and the lit word follow the sound."""


def track_details(track: TalkTrack | None) -> Text:
    """The side panel for a talk track: objections and why, tags, the note."""
    if track is None:
        return Text("No talk tracks yet: the call has not been transcribed.", style="dim")
    text = Text()
    text.append(f"Talk track #{track.index + 1}", style="bold")
    text.append(f"  {clock(track.start)}-{clock(track.end)}\n\n", style="cyan")
    text.append("Objections\n", style="bold underline")
    shown = False
    seen: set[str] = set()
    for tag in track.tags:
        if tag.kind != "objection" or tag.value in seen:
            continue
        seen.add(tag.value)
        shown = True
        if tag.removed:
            text.append(f"  {tag.value}", style="strike dim")
            text.append("  removed by you\n", style="dim")
            continue
        text.append(f"  {tag.value}", style="bold yellow")
        if tag.source == "person":
            text.append("  set by you\n", style="green")
        else:
            confidence = f" {tag.confidence:.2f}" if tag.confidence is not None else ""
            text.append(f"  auto{confidence}\n", style="dim")
            if tag.reason:
                text.append(f"    {tag.reason}\n", style="italic dim")
    if not shown:
        text.append("  none\n", style="dim")
    text.append("\nTags\n", style="bold underline")
    tags = effective_custom_tags(track)
    text.append(("  " + "  ".join(f"#{t}" for t in tags)) if tags else "  none",
                style="magenta" if tags else "dim")
    text.append("\n\nNote\n", style="bold underline")
    text.append(f"  {track.note}" if track.note else "  none", style="" if track.note else "dim")
    text.append("\n\nt tags · n note · c add to a collection", style="dim")
    return text


class CallScreen(ReportsWorkerErrors, Screen[None]):
    """Replay a call: the text follows the sound, and what is worth keeping gets tagged."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play_pause", "Play", priority=True, id="call.play"),
        Binding("left", "seek(-5)", "Back 5 s", priority=True, key_display="←", group=_SEEK,
                id="call.back"),
        Binding("right", "seek(5)", "Forward 5 s", priority=True, key_display="→",
                group=_SEEK, id="call.forward"),
        Binding("left_square_bracket", "track(-1)", "Previous talk track", key_display="[",
                group=_TRACK, id="call.prev_track"),
        Binding("right_square_bracket", "track(1)", "Next talk track", key_display="]",
                group=_TRACK, id="call.next_track"),
        Binding("minus,less_than_sign", "speed(-1)", "Slower", key_display="-", group=_SPEED,
                id="call.slower"),
        Binding("plus,equals_sign,greater_than_sign", "speed(1)", "Faster", key_display="+",
                group=_SPEED, id="call.faster"),
        Binding("s", "skip_silence", "Skip silence", id="call.skip_silence"),
        # The side panel spells these three out under the talk track, so the footer (which
        # must fit 120 columns) leaves them to it; ? and the palette list them too.
        Binding("t", "tag", "Tags", show=False, id="call.tag"),
        Binding("n", "note", "Note", show=False, id="call.note"),
        Binding("c", "collect", "Collect", show=False, id="call.collect"),
        Binding("escape,backspace", "back", "Back", id="call.back_to_library"),
    ]

    @dataclass
    class Loaded(Message):
        """The call's record, transcript and bookmarks were read."""

        call: Call
        consent: Consent | None
        tracks: list[TalkTrack]
        segments: list[Segment]
        markers: list[Marker]

    @dataclass
    class PlayerReady(Message):
        """The audio is decoded and the output device is open."""

        player: Player | None
        problem: str | None

    @dataclass
    class Collected(Message):
        """A talk track went into the collection named ``collection``."""

        collection: str

    @dataclass
    class TracksChanged(Message):
        """Tags or a note were saved; these are the tracks as stored now."""

        tracks: list[TalkTrack]

    def __init__(
        self,
        context: AppContext,
        call_id: str,
        *,
        start_at: float | None = None,
        segment_id: int | None = None,
        track_id: int | None = None,
        autoplay: bool = False,
    ) -> None:
        """Open ``call_id``; with ``start_at`` (or a segment) the cursor and playhead go there.

        Args:
            context: the app's shared settings and connections.
            call_id: the call to show.
            start_at: seconds to start from (a search hit's start).
            segment_id: the hit's segment, whose first word playback starts on.
            track_id: the hit's talk track (for filter-only hits).
            autoplay: start playing as soon as the audio is ready.
        """
        super().__init__()
        self.context = context
        self.call_id = call_id
        self.call: Call | None = None
        self.player: Player | None = None
        self.problem: str | None = None
        self._start_at = start_at
        self._segment_id = segment_id
        self._track_id = track_id
        self._autoplay = autoplay
        self._loaded = False
        self._closed = False

    @property
    def transcript(self) -> Transcript:
        """The transcript list."""
        return self.query_one(Transcript)

    @property
    def player_bar(self) -> PlayerBar:
        """The player bar."""
        return self.query_one(PlayerBar)

    def compose(self) -> ComposeResult:
        """Call header, transcript beside the track details, player bar, footer."""
        yield Static("Loading call…", id="call-header", markup=False)
        with Horizontal(id="call-body"):
            yield Transcript(id="transcript")
            yield Static("", id="details")
        yield PlayerBar(id="player")
        yield Footer()

    def on_mount(self) -> None:
        """Read the call and open the audio, each in its own worker."""
        self.transcript.focus()
        self.load_call()
        self.open_player()
        self.set_interval(TICK_SECONDS, self._tick)

    def on_unmount(self) -> None:
        """Stop the sound and free the device (off the event loop: closing may wait)."""
        self._closed = True
        player, self.player = self.player, None
        if player is not None:
            player.pause()
            threading.Thread(target=player.close, name="shadowbox-player-close",
                             daemon=True).start()

    # ------------------------------------------------------------------ loading

    @work(thread=True, exclusive=True, group="call-load", exit_on_error=False,
          description="Read the call")
    def load_call(self) -> None:
        """Read the call, its consent, transcript and bookmarks."""
        library = self.context.library
        call = library.get_call(self.call_id)
        try:
            consent: Consent | None = library.consent(call.id)
        except ShadowboxError:
            consent = None
        self.post_message(self.Loaded(
            call, consent, library.talk_tracks(call.id), library.segments(call.id),
            library.markers(call.id),
        ))

    @work(thread=True, exclusive=True, group="call-audio", exit_on_error=False,
          description="Open the audio")
    def open_player(self) -> None:
        """Decode the recording and open the output device; a missing device is not an error."""
        from shadowbox.playback import Player

        library = self.context.library
        call = library.get_call(self.call_id)
        ranges = [(t.start, t.end) for t in library.talk_tracks(call.id)]
        try:
            player = Player.open(library.audio_file(call), channel=call.channel, ranges=ranges,
                                 device=self.context.output_device)
        except ShadowboxError as exc:
            self.post_message(self.PlayerReady(None, str(exc)))
            return
        self.post_message(self.PlayerReady(player, None))

    def on_call_screen_loaded(self, message: Loaded) -> None:
        """Show the header and transcript; put the cursor where the screen was opened for."""
        call = self.call = message.call
        parts = [call.title, call.rep or "-", day(call.recorded_at), clock(call.duration),
                 call.status]
        if message.consent is not None:
            parts.append(f"consent: {message.consent.method}")
        self.query_one("#call-header", Static).update("  ·  ".join(parts))
        self.transcript.show(message.tracks, message.segments, message.markers)
        self.player_bar.markers = [m.at for m in message.markers]
        if self.player is not None:  # read again after a re-transcription
            self.player.set_ranges([(t.start, t.end) for t in message.tracks])
        row = self.transcript.row_of_segment(self._segment_id, self._start_at)
        if self._segment_id is None and self._track_id is not None:
            for i, entry in enumerate(self.transcript.entries):
                if entry.track is not None and entry.track.id == self._track_id:
                    row = i
        if row is not None:
            self.transcript.highlighted = row
            self._start_at = self.transcript.entries[row].play_from
        self._show_details()
        self._loaded = True
        self._maybe_autoplay()

    def on_call_screen_player_ready(self, message: PlayerReady) -> None:
        """Keep the player (or show why there is none)."""
        if self._closed:
            if message.player is not None:
                threading.Thread(target=message.player.close, daemon=True).start()
            return
        self.player = message.player
        self.problem = message.problem
        self.player_bar.loading = False
        self.player_bar.problem = message.problem
        if self.player is not None and self._start_at is not None:
            self.player.seek(self._start_at)
        self._maybe_autoplay()

    def _maybe_autoplay(self) -> None:
        if self._autoplay and self._loaded and self.player is not None:
            self._autoplay = False
            self.player.play(self._start_at)

    # ------------------------------------------------------------------ following

    def _tick(self) -> None:
        if self.player is None:
            return
        state = self.player.state()
        if state != self.player_bar.state:
            self.player_bar.state = state
            self.transcript.follow(state.position)

    @on(OptionList.OptionHighlighted, "#transcript")
    def _show_details(self) -> None:
        self.query_one("#details", Static).update(track_details(self.transcript.track_at_cursor()))

    # ------------------------------------------------------------------ playback

    def _need_player(self, what: str) -> Player | None:
        if self.player is None:
            reason = self.problem or "the audio is still loading"
            self.notify(f"Cannot {what}: {reason}", severity="warning" if not self.problem
                        else "error", timeout=6)
        return self.player

    @on(Transcript.PlayFrom)
    def _play_from(self, message: Transcript.PlayFrom) -> None:
        player = self._need_player("play")
        if player is not None:
            player.play(message.at)

    @on(PlayerBar.Seek)
    def _bar_seek(self, message: PlayerBar.Seek) -> None:
        if self.player is not None:
            self.player.seek(message.fraction * self.player.duration)

    def action_play_pause(self) -> None:
        """Play or pause."""
        player = self._need_player("play")
        if player is not None:
            self.transcript.following = True
            player.toggle()

    def action_seek(self, seconds: float) -> None:
        """Jump back or forward."""
        player = self._need_player("seek")
        if player is not None:
            player.skip(seconds)

    def action_track(self, step: int) -> None:
        """Jump to the previous or next talk track and play it from its first word."""
        player = self._need_player("play")
        if player is None:
            return
        tracks = sorted(self.transcript.tracks, key=lambda t: t.start)
        if not tracks:
            return
        now = player.position
        index = max((i for i, t in enumerate(tracks) if t.start <= now + 0.05), default=-1)
        if step > 0:
            index += 1
        elif index >= 0 and now - tracks[index].start < 1.5:
            # Within the first moments of a track, [ goes to the one before it.
            index -= 1
        if index >= len(tracks):
            self.notify("That was the last talk track.", timeout=3)
            return
        self.transcript.following = True
        player.play(self.transcript.track_play_from(tracks[max(index, 0)]))

    def action_speed(self, steps: int) -> None:
        """Slower or faster (0.75x to 2x; the pitch stays)."""
        player = self._need_player("change speed")
        if player is not None:
            speed = player.step_speed(steps)
            self.notify(f"Speed {speed:g}x", timeout=1.5)

    def action_skip_silence(self) -> None:
        """Play only the talk tracks (the gaps are the other party) or everything."""
        player = self._need_player("skip silence")
        if player is not None:
            player.set_skip_silence(not player.skip_silence)

    def action_back(self) -> None:
        """Back to the library."""
        self.dismiss()

    # ------------------------------------------------------------------ tagging

    def action_tag(self) -> None:
        """Edit the objections and tags of the talk track under the cursor."""
        track = self.transcript.track_at_cursor()
        if track is None:
            self.notify("No talk track here to tag.", severity="warning")
            return

        def saved(choice: TagChoice | None) -> None:
            if choice is not None:
                self.save_tags(track, choice)

        self.app.push_screen(TagScreen(track, self.context.taxonomy), saved)

    def action_note(self) -> None:
        """Write a note on the talk track under the cursor."""
        track = self.transcript.track_at_cursor()
        if track is None:
            self.notify("No talk track here to annotate.", severity="warning")
            return

        def saved(note: str | None) -> None:
            if note is not None and note != (track.note or ""):
                self.save_note(track.id, note or None)

        self.app.push_screen(NoteScreen(track), saved)

    @work(thread=True, group="call-tags", exit_on_error=False, description="Save tags")
    def save_tags(self, track: TalkTrack, choice: TagChoice) -> None:
        """Store a person's objections and tags (only what changed) and re-read the tracks."""
        library = self.context.library
        for objection in set(track.objections) ^ choice.objections:
            library.set_tag(track.id, "objection", objection,
                            present=objection in choice.objections)
        before = set(effective_custom_tags(track))
        for tag in before ^ choice.tags:
            library.set_tag(track.id, "custom", tag, present=tag in choice.tags)
        self.post_message(self.TracksChanged(library.talk_tracks(track.call_id)))

    @work(thread=True, group="call-tags", exit_on_error=False, description="Save note")
    def save_note(self, track_id: int, note: str | None) -> None:
        """Store a note and re-read the tracks."""
        library = self.context.library
        track = library.set_note(track_id, note)
        self.post_message(self.TracksChanged(library.talk_tracks(track.call_id)))

    def action_collect(self) -> None:
        """Add the talk track under the cursor (the one playing, while the cursor follows
        the sound) to a collection, with an optional note."""
        track = self.transcript.track_at_cursor()
        if track is None:
            self.notify("No talk track here to add to a collection.", severity="warning")
            return

        def chosen(choice: AddChoice | None) -> None:
            if choice is not None:
                self.collect(track, choice)

        self.app.push_screen(AddToCollectionScreen(self.context, track), chosen)

    @work(thread=True, group="call-collect", exit_on_error=False,
          description="Add to the collection")
    def collect(self, track: TalkTrack, choice: AddChoice) -> None:
        """Put ``track`` into the chosen collection (made first when it is a new one)."""
        from shadowbox import collections as curation

        library = self.context.library
        if choice.collection_id is None:
            collection = curation.create_collection(library, choice.new_name or "")
        else:
            collection = curation.get_collection(library, choice.collection_id)
        curation.add_track(library, collection.id, track.id, note=choice.note)
        self.post_message(self.Collected(collection.name))

    def on_call_screen_collected(self, message: Collected) -> None:
        """Say where the talk track went."""
        self.notify(f"Added to {message.collection}", timeout=3)
        self.app.post_message(LibraryChanged(self.call_id))

    def on_call_screen_tracks_changed(self, message: TracksChanged) -> None:
        """Repaint headings and details, and let the library screen recount."""
        self.transcript.update_tracks(message.tracks)
        self._show_details()
        self.notify("Saved.", timeout=2)
        self.app.post_message(LibraryChanged(self.call_id))
