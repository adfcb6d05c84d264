"""The wiring every small form dialog shares: Save and Cancel buttons, Enter and Escape."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen
from textual.widgets import Button, Input

AnswerType = TypeVar("AnswerType")


class FormDialog(ModalScreen[AnswerType | None]):
    """A modal form: the ``#save`` button or Enter in a one-line field calls
    :meth:`action_save`; any other button or :meth:`action_cancel` closes with no answer.

    Subclasses compose the fields and implement ``action_save`` (dismiss with the answer).
    """

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Save or cancel."""
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a one-line field saves."""
        self.action_save()

    def action_save(self) -> None:
        """Close with the answer (each dialog knows what it is)."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        """Close without an answer: nothing changes."""
        self.dismiss(None)
