"""The Shadowbox terminal app: screens, app-wide keys, background transcription, error display.

:func:`make_app` is the one way to build it (the CLI and the tests both use it).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from shadowbox.config import Settings
from shadowbox.errors import ShadowboxError
from shadowbox.library import Library
from shadowbox.models import Call

from .context import AppContext
from .messages import (
    LibraryChanged,
    TranscriptionFinished,
    TranscriptionProgress,
    WorkerFailed,
)
from .screens.library import LibraryScreen
from .transcriber import ChildTranscriber

if TYPE_CHECKING:
    from shadowbox.worker import Worker as TranscriptionWorker

TRANSCRIBE_THREADS = 1
"""Speech-model threads while the app is open: one leaves a core for the screen."""
TRANSCRIBE_IN_PROCESS = True
"""Transcribe in a child process (the model's Python work cannot then stall the screen);
False runs the worker in a thread of the app (benchmarks/tui.py compares the two)."""


class ShadowboxApp(App[None]):
    """Browse, search, replay and tag senior reps' calls; record your own with one key."""

    CSS_PATH = "shadowbox.tcss"
    TITLE = "Shadowbox"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Keys", key_display="?", id="app.help"),
        Binding("r", "record", "Record", id="app.record"),
        Binding("C", "collections", "Collections", id="app.collections"),
    ]

    def __init__(self, context: AppContext) -> None:
        """Build the app over ``context`` (use :func:`make_app`)."""
        super().__init__()
        self.context = context
        self._transcriber: TranscriptionWorker | ChildTranscriber | None = None
        self._transcribing = False
        self._again = False

        self.library_screen = LibraryScreen(context)
        """The library screen, always at the bottom of the stack."""

    @property
    def transcribing(self) -> bool:
        """Whether the background transcriber is running."""
        return self._transcribing

    def on_mount(self) -> None:
        """Show the library and transcribe anything left in the queue."""
        self.push_screen(self.library_screen)
        if self.context.transcribe:
            self.start_transcription()

    def on_unmount(self) -> None:
        """Ask the background transcriber to put its job back and stop."""
        transcriber = self._transcriber
        if isinstance(transcriber, ChildTranscriber):
            transcriber.stop()
        elif transcriber is not None:
            transcriber.stop_event.set()

    # ------------------------------------------------------------------ transcription

    def start_transcription(self) -> None:
        """Transcribe queued calls in the background (again, if it is already running)."""
        if self._transcribing:
            self._again = True
            return
        self._transcribing = True
        self._again = False
        self.transcribe_queue()

    @work(thread=True, group="transcribe", exit_on_error=False,
          description="Transcribe queued calls")
    def transcribe_queue(self) -> None:
        """Run the transcription worker over the queue, posting progress as it goes."""
        library = self.context.library
        waiting = [
            j for j in library.queued_jobs()
            if j.status == "queued" or (j.lease_expires or 0) < time.time()
        ]
        if not waiting:
            self.post_message(TranscriptionFinished((), ()))
            return
        settings = self.context.settings.with_overrides(cpu_threads=TRANSCRIBE_THREADS)
        try:
            if TRANSCRIBE_IN_PROCESS:
                done, failed = self._transcribe_in_child(settings)
            else:
                done, failed = self._transcribe_in_thread(library, settings)
        finally:
            self._transcriber = None
            self._transcribing = False
        self.post_message(TranscriptionFinished(done, failed))

    def _transcribe_in_child(self, settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
        from .transcriber import ChildTranscriber

        child = ChildTranscriber(settings)
        self._transcriber = child
        for event in child.events():
            if event.kind in ("start", "progress") and event.call_id:
                self.post_message(TranscriptionProgress(event.call_id, event.fraction))
            elif event.kind == "error":
                raise ShadowboxError(event.message or "the transcriber stopped")
            elif event.kind == "done":
                return event.done, event.failed
        return (), ()

    def _transcribe_in_thread(
        self, library: Library, settings: Settings
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        from shadowbox.worker import Progress
        from shadowbox.worker import Worker as TranscriptionWorker

        def progress(p: Progress) -> None:
            self.post_message(TranscriptionProgress(p.call.id, p.fraction))

        def started(call: Call) -> None:
            self.post_message(TranscriptionProgress(call.id, 0.0))

        worker = TranscriptionWorker(library, settings, on_progress=progress, on_start=started)
        self._transcriber = worker
        report = worker.run(once=True)
        return (
            tuple(c.id for c in report.done),
            tuple(f"{c.title}: {reason}" for c, reason in report.failed),
        )

    def on_transcription_progress(self, message: TranscriptionProgress) -> None:
        """Move the call's progress bar."""
        if self._library_shown():
            self.library_screen.calls.update_progress(message.call_id, message.fraction)

    def on_transcription_finished(self, message: TranscriptionFinished) -> None:
        """Refresh what changed, report failures, and go again if more was queued."""
        from .screens.call import CallScreen

        self._transcribing = False
        for problem in message.failed:
            self.notify(problem, title="Transcription failed", severity="error", timeout=10)
        for screen in self.screen_stack:
            if isinstance(screen, CallScreen) and screen.call_id in message.done:
                screen.load_call()
        if message.done:
            self.post_message(LibraryChanged())
        if self._again:
            self.start_transcription()

    def on_library_changed(self, message: LibraryChanged) -> None:
        """Read lists, counts and hits again."""
        if self._library_shown():
            self.library_screen.library_changed()

    def _library_shown(self) -> bool:
        # Before it mounts it reads fresh rows anyway; after the app exits there is no screen.
        screen = self.library_screen
        return screen.is_mounted and screen.is_attached

    # ------------------------------------------------------------------ errors

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers report failures like everyone else's."""
        if event.state is WorkerState.ERROR:
            self.post_message(WorkerFailed(event.worker))

    def on_worker_failed(self, message: WorkerFailed) -> None:
        """The one place a failed worker becomes a visible error; none fails silently."""
        worker = message.worker
        error = worker.error
        if worker.group == "transcribe":
            self._transcribing = False
        if isinstance(error, ShadowboxError):
            text = str(error)
        else:
            self.log.error("".join(traceback.format_exception(error)) if error else "")
            text = f"Unexpected {type(error).__name__}: {error}"
        self.notify(text, title=f"{worker.description} failed", severity="error", timeout=12)

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        """List every key of the current screen."""
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_record(self) -> None:
        """Open the record screen (consent first, then one key starts and stops)."""
        try:
            from .screens.record import RecordScreen
        except ImportError as exc:
            self.notify(f"Recording is not available in this build ({exc}).",
                        severity="error")
            return
        if not any(isinstance(s, RecordScreen) for s in self.screen_stack):
            self.push_screen(RecordScreen(self.context))

    def action_collections(self) -> None:
        """Open the collections screen (curated best-of lists), or go back to it.

        From a call opened from that screen, this returns to it rather than piling up a
        second one; over a dialog it does nothing (the dialog has the keys).
        """
        from .screens.call import CallScreen
        from .screens.collections import CollectionsScreen

        if isinstance(self.screen, ModalScreen | CollectionsScreen):
            return
        below = [s for s in self.screen_stack if isinstance(s, CollectionsScreen)]
        if below:
            above = self.screen_stack[self.screen_stack.index(below[-1]) + 1 :]
            if all(isinstance(s, CallScreen) for s in above):
                for _ in above:
                    self.pop_screen()
                return
        self.push_screen(CollectionsScreen(self.context))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The collections key is left out of the footer on the collections screen itself."""
        if action == "collections":
            from .screens.collections import CollectionsScreen

            return not isinstance(self.screen, ModalScreen | CollectionsScreen)
        return True

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette offers every key's action on this screen, besides Textual's own."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.action in seen or binding.system:
                continue
            if binding.action in ("quit", "command_palette"):
                continue
            seen.add(binding.action)
            yield SystemCommand(
                binding.tooltip or binding.description,
                f"Key: {self.get_key_display(binding)}",
                partial(self.run_action, binding.action, active.node),
            )


def make_app(settings: Settings, *, output_device: int | str | None = None,
             input_device: int | str | None = None, transcribe: bool = True) -> ShadowboxApp:
    """Build the app for ``settings`` (the CLI and the tests use this one factory).

    Args:
        settings: whose ``library`` the app opens (created if missing).
        output_device: the sounddevice output for playback; None is the system default.
        input_device: the sounddevice input for recording; None is the system default.
        transcribe: transcribe queued calls in the background while the app runs.
    """
    return ShadowboxApp(AppContext(settings, output_device=output_device,
                                   input_device=input_device, transcribe=transcribe))
