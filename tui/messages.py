"""App-wide messages: what thread workers and screens tell each other.

Messages are dataclasses; frequent ones (progress) say which earlier message they replace,
so a busy queue coalesces them instead of falling behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.worker import Worker, WorkerState


@dataclass
class TranscriptionProgress(Message):
    """The background transcription of a call moved on (0..1)."""

    call_id: str
    fraction: float

    def can_replace(self, message: Message) -> bool:
        """A newer progress of the same call makes an older one pointless."""
        return isinstance(message, TranscriptionProgress) and message.call_id == self.call_id


@dataclass
class TranscriptionFinished(Message):
    """The background transcriber emptied the queue (or stopped); ``failed`` has reasons."""

    done: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass
class LibraryChanged(Message):
    """Calls, tags or notes changed: lists and counts on screen should be read again."""

    call_id: str | None = None


@dataclass
class WorkerFailed(Message):
    """A thread worker raised; the app's one handler shows it."""

    worker: Worker[object]


class ReportsWorkerErrors:
    """Mixin for screens and widgets that run workers: their failures reach the app.

    Textual tells only the node that started a worker about its state, so each such node
    forwards failures to the app, where one handler turns them into a visible error.
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Forward a failure to the app."""
        if event.state is WorkerState.ERROR:
            self.app.post_message(WorkerFailed(event.worker))  # type: ignore[attr-defined]
