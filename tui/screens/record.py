"""The record screen: consent first, then one key starts and stops; a live level, time, bookmarks.

One thread worker owns the whole recording (its library connection, the session, the stop):
the screen sends it commands through a queue and it posts back levels, bookmarks and the
saved call. Nothing here blocks the event loop, so the screen never freezes while the
microphone runs or the call is being stored.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from shadowbox.config import CONSENT_METHODS
from shadowbox.errors import ShadowboxError
from shadowbox.library import Library

from ..context import AppContext
from ..formatting import clock
from ..messages import LibraryChanged, ReportsWorkerErrors

if TYPE_CHECKING:
    from shadowbox.recording import LiveStatus, SavedRecording

CONSENT_HELP = {
    "verbal": "they agreed when I asked, before recording",
    "announcement": "play the recorded notice to them first",
    "written": "they agreed in writing",
}
TICK_SECONDS = 0.1
METER_CELLS = 30


@dataclass
class _Stop:
    """Command: stop and keep the recording."""


@dataclass
class _Mark:
    """Command: drop a bookmark now."""


def meter(dbfs: float | None, cells: int = METER_CELLS) -> Text:
    """A level bar from -60 dBFS (empty) to 0 (full), red near clipping."""
    db = -120.0 if dbfs is None else dbfs
    filled = max(0, min(cells, round((db + 60) / 60 * cells)))
    text = Text()
    for i in range(cells):
        on = i < filled
        colour = "red" if i >= cells - 2 else "yellow" if i >= cells * 0.7 else "green"
        text.append("█" if on else "░", style=colour if on else "dim")
    text.append(f" {max(db, -99):4.0f} dB", style="bold" if db > -60 else "dim")
    return text


class RecordScreen(ReportsWorkerErrors, Screen[None]):
    """Record your side of a call: choose how they consented, then space starts and stops."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "start_stop", "Start/Stop", id="record.toggle"),
        Binding("m", "mark", "Bookmark", id="record.mark"),
        Binding("escape", "back", "Back", id="record.back"),
    ]

    @dataclass
    class Started(Message):
        """The microphone is open (after the notice, when consent is by announcement)."""

        title: str
        device: str
        samplerate: int

    @dataclass
    class Live(Message):
        """The latest elapsed time, level and warnings (each one replaces the last)."""

        elapsed: float
        status: LiveStatus

        def can_replace(self, message: Message) -> bool:
            """Only the newest reading matters."""
            return isinstance(message, RecordScreen.Live)

    @dataclass
    class Marked(Message):
        """A bookmark was dropped at ``at`` seconds."""

        at: float
        count: int

    @dataclass
    class Finished(Message):
        """The recording was stored as a call (or why it could not be)."""

        saved: SavedRecording | None
        problem: str | None

    def __init__(self, context: AppContext) -> None:
        """A record screen for ``context``'s library and input device."""
        super().__init__()
        self.context = context
        self.consent: str | None = None
        self.state = "consent"  # consent, ready, starting, recording, stopping, done
        self._commands: queue.SimpleQueue[_Stop | _Mark] = queue.SimpleQueue()
        self._markers = 0

    def compose(self) -> ComposeResult:
        """Consent choice and call details, then the live panel."""
        yield Static("Shadowbox  ·  Record a call (your microphone only)", id="title-bar")
        with Vertical(id="record-body"):
            yield Label("1. How did the other party consent to this recording?",
                        classes="section-title")
            yield OptionList(*self._consent_options(), id="consent")
            with Horizontal(id="record-details"):
                yield Input(placeholder="Title (default: Call and the date)", id="record-title")
                yield Input(self.context.settings.rep or "", placeholder="Rep (your name)",
                            id="record-rep")
            yield Label("2. Record", classes="section-title")
            yield Static(self._idle_text(), id="record-live")
            yield Static("", id="record-warnings")
        yield Footer()

    def _consent_options(self) -> list[Option]:
        allowed = ("announcement",) if self.context.settings.require_announcement else (
            CONSENT_METHODS
        )
        options = [
            Option(Text.assemble((f"{m:<13}", "bold"), (CONSENT_HELP.get(m, ""), "dim")), id=m)
            for m in allowed
        ]
        options.append(Option(Text("no consent: do not record", style="red"), id="none"))
        return options

    def _idle_text(self) -> Text:
        if self.consent is None:
            return Text("Choose how they consented first (Enter on a line above).", style="dim")
        text = Text("Consent: ", style="dim")
        text.append(self.consent, style="bold green")
        text.append("   Press space to start recording; space again stops.", style="bold")
        return text

    def on_mount(self) -> None:
        """Start on the consent choice, preselecting the configured default."""
        consent = self.query_one("#consent", OptionList)
        consent.focus()
        default = self.context.settings.consent
        ids = [consent.get_option_at_index(i).id for i in range(consent.option_count)]
        if default in ids:
            consent.highlighted = ids.index(default)

    @on(OptionList.OptionSelected, "#consent")
    def _consent_chosen(self, event: OptionList.OptionSelected) -> None:
        if self.state not in ("consent", "ready"):
            return
        if event.option_id == "none":
            self.notify("Not recording: the other party did not consent.", timeout=4)
            self.dismiss()
            return
        self.consent = event.option_id
        self.state = "ready"
        self.query_one("#record-live", Static).update(self._idle_text())

    # ------------------------------------------------------------------ actions

    def action_start_stop(self) -> None:
        """Start recording, or stop and keep it."""
        if self.state == "consent":
            self.notify("Choose how the other party consented first.", severity="warning")
        elif self.state == "ready":
            self.state = "starting"
            title = self.query_one("#record-title", Input).value.strip() or None
            rep = self.query_one("#record-rep", Input).value.strip() or None
            self.query_one("#consent", OptionList).disabled = True
            live = self.query_one("#record-live", Static)
            live.update(Text("Playing the consent notice…" if self.consent == "announcement"
                             else "Opening the microphone…", style="bold"))
            assert self.consent is not None
            self.record(self.consent, title, rep)
        elif self.state == "recording":
            self.state = "stopping"
            self._commands.put(_Stop())
            self.query_one("#record-live", Static).update(
                Text("Stopping and saving…", style="bold")
            )

    def action_mark(self) -> None:
        """Drop a bookmark at this moment."""
        if self.state == "recording":
            self._commands.put(_Mark())

    def action_back(self) -> None:
        """Back to the library; a running recording is stopped and kept first."""
        if self.state == "recording":
            self.action_start_stop()
            self.notify("Stopped: the recording is being saved.", timeout=3)
        elif self.state not in ("starting", "stopping"):
            self.dismiss()

    def on_unmount(self) -> None:
        """Leaving (or quitting) never loses a recording: it is stopped and stored."""
        self._commands.put(_Stop())

    # ------------------------------------------------------------------ the recording worker

    @work(thread=True, exclusive=True, group="record", exit_on_error=False,
          description="Record")
    def record(self, consent: str, title: str | None, rep: str | None) -> None:
        """Own one recording from start to stored call, in this thread only."""
        from shadowbox.recording import RecordingSession, SignalWatch

        library = Library.open(self.context.settings.library)
        try:
            session = RecordingSession(
                library, self.context.settings, consent=consent, title=title, rep=rep,
                device=self.context.input_device, output_device=self.context.output_device,
            )
            session.start()
            recorder = session.recorder
            self.post_message(self.Started(session.title, session.device.name,
                                           recorder.samplerate))
            watch = SignalWatch()
            while recorder.fault is None:
                try:
                    command = self._commands.get(timeout=TICK_SECONDS)
                except queue.Empty:
                    command = None
                if isinstance(command, _Stop):
                    break
                if isinstance(command, _Mark):
                    marker = session.mark()
                    self.post_message(self.Marked(marker.at, len(session.markers)))
                status = watch.update(recorder.level(), time.monotonic())
                self.post_message(self.Live(recorder.elapsed, status))
            saved = session.stop()
        except ShadowboxError as exc:
            self.post_message(self.Finished(None, str(exc)))
            return
        finally:
            library.close()
        self.post_message(self.Finished(saved, None))

    def on_record_screen_started(self, message: Started) -> None:
        """The microphone is live."""
        self.state = "recording"
        self.query_one("#record-details").display = False
        self.notify(f"Recording {message.title!r} from {message.device} at "
                    f"{message.samplerate} Hz", timeout=4)

    def on_record_screen_live(self, message: Live) -> None:
        """Redraw the time, the meter and the warnings."""
        if self.state != "recording":
            return
        level = message.status.level
        text = Text("● REC ", style="bold red")
        text.append(f"{clock(message.elapsed)}   ", style="bold")
        text.append_text(meter(level.dbfs if level is not None else None))
        if self._markers:
            text.append(f"   {self._markers} bookmark{'s' if self._markers != 1 else ''}",
                        style="yellow")
        text.append("\n\nspace stops and saves · m drops a bookmark", style="dim")
        self.query_one("#record-live", Static).update(text)
        warnings = Text("\n".join(f"⚠ {w}" for w in message.status.warnings), style="bold red")
        self.query_one("#record-warnings", Static).update(warnings)

    def on_record_screen_marked(self, message: Marked) -> None:
        """Count the bookmark and say where it is."""
        self._markers = message.count
        self.notify(f"Bookmark {message.count} at {clock(message.at)}", timeout=2)

    def on_record_screen_finished(self, message: Finished) -> None:
        """Show what was saved (with any warnings), then transcribe it in the background."""
        self.state = "done"
        live = self.query_one("#record-live", Static)
        if message.saved is None:
            live.update(Text(f"Nothing was recorded: {message.problem}", style="bold red"))
            self.notify(f"Cannot record: {message.problem}", severity="error", timeout=10)
            return
        saved = message.saved
        text = Text("Saved ", style="bold green")
        marks = len(saved.markers)
        text.append(f"{saved.call.title!r}: {clock(saved.duration)}, {marks} "
                    f"bookmark{'s' if marks != 1 else ''}, {saved.audio_format}. "
                    "Transcribing in the background.")
        notes = []
        if saved.overflows:
            notes.append(f"the input overflowed {saved.overflows} times; about "
                         f"{saved.dropped_samples} samples were lost")
        if saved.fault is not None:
            notes.append(f"recording stopped early: {saved.fault.message}")
        if saved.note:
            notes.append(saved.note)
        text.append("\n\nEscape goes back to the library.", style="dim")
        live.update(text)
        self.query_one("#record-warnings", Static).update(
            Text("\n".join(f"⚠ {n}" for n in notes), style="bold yellow")
        )
        self.app.post_message(LibraryChanged(saved.call.id))
        start = getattr(self.app, "start_transcription", None)
        if callable(start) and self.context.transcribe:
            start()
