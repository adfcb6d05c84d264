"""Small dialogs for curation: a line or a note of text, a yes/no, and "add to which collection".

They only ask; whoever opened them changes the library with the answer (in a worker, through
``shadowbox.collections``), so a mistake such as a taken name comes back as a notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from shadowbox.collections import Collection, list_collections
from shadowbox.models import TalkTrack

from ..context import AppContext
from ..formatting import clock
from ..messages import ReportsWorkerErrors
from .form import FormDialog

NEW = "\x00new"
"""The option id of "New collection…" (no collection id can look like it)."""


class TextPrompt(FormDialog[str]):
    """Ask for one piece of text: a name, a description or a note. Escape cancels.

    One line is an Input (Enter saves); a note is a TextArea (Ctrl+S saves), because a
    curator's note can run to a few lines.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
        Binding("ctrl+s", "save", "Save", id="prompt.save"),
    ]

    def __init__(self, title: str, value: str = "", *, placeholder: str = "",
                 multiline: bool = False) -> None:
        """A dialog titled ``title`` whose field starts with ``value``.

        Args:
            title: what is being asked (shown at the top).
            value: the current text, to edit.
            placeholder: shown while the field is empty.
            multiline: a text area (Ctrl+S saves) instead of one line (Enter saves).
        """
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.multiline = multiline

    def compose(self) -> ComposeResult:
        """Title, the field, Save and Cancel."""
        with Vertical(id="dialog", classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            if self.multiline:
                yield TextArea(self.value, id="prompt-text")
            else:
                yield Input(self.value, placeholder=self.placeholder, id="prompt-text")
            hint = "Ctrl+S saves" if self.multiline else "Enter saves"
            yield Static(f"{hint} · Escape cancels", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Start typing at once."""
        self.query_one("#prompt-text").focus()

    def action_save(self) -> None:
        """Close with the text typed (trimmed; "" when it was emptied)."""
        if self.multiline:
            text = self.query_one("#prompt-text", TextArea).text
        else:
            text = self.query_one("#prompt-text", Input).value
        self.dismiss(text.strip())


class ConfirmScreen(ModalScreen[bool]):
    """Ask before something that cannot be undone; y or the button confirms, n or Escape not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, *, confirm: str = "Delete") -> None:
        """Ask ``question``; the confirming button reads ``confirm``."""
        super().__init__()
        self.question = question
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        """The question and two buttons (the safe one focused)."""
        with Vertical(id="dialog", classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        """Enter alone must not destroy anything: Cancel has the focus."""
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """A button answers."""
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """A key answers."""
        self.dismiss(yes)


@dataclass(frozen=True)
class AddChoice:
    """Where a person chose to put a talk track: a collection (or a new one) and a note."""

    collection_id: str | None
    """The existing collection's id; None means create ``new_name``."""
    new_name: str | None
    note: str | None


class AddToCollectionScreen(ReportsWorkerErrors, ModalScreen[AddChoice | None]):
    """Pick the collection a talk track goes into (or start one), with an optional note."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="add.cancel"),
        Binding("ctrl+s", "add", "Add", id="add.save"),
    ]

    @dataclass
    class Loaded(Message):
        """The library's collections were read."""

        collections: list[Collection]

    def __init__(self, context: AppContext, track: TalkTrack) -> None:
        """Ask where ``track`` goes; the collections are read from ``context``'s library."""
        super().__init__()
        self.context = context
        self.track = track
        self.collections: list[Collection] = []

    @property
    def choices(self) -> OptionList:
        """The collections, then "New collection…"."""
        return self.query_one("#add-choices", OptionList)

    def compose(self) -> ComposeResult:
        """The track, the collection list, a name box for a new one, the note, buttons."""
        track = self.track
        with Vertical(id="dialog", classes="dialog"):
            yield Label(
                f"Add talk track #{track.index + 1} ({clock(track.start)}-{clock(track.end)}) "
                "to a collection", classes="dialog-title",
            )
            yield Static(track.text[:200] + ("…" if len(track.text) > 200 else ""),
                         classes="dialog-quote", markup=False)
            yield Label("Collection (Enter picks)")
            yield OptionList(Option(Text("Reading collections…", style="dim"), disabled=True),
                             id="add-choices")
            yield Input(placeholder="Name of the new collection", id="add-name")
            yield Label("Note (optional): why is this worth hearing?")
            yield Input(placeholder="Names the cost of doing nothing", id="add-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Read the collections; the list has the focus."""
        self.query_one("#add-name", Input).display = False
        self.choices.focus()
        self.load_collections()

    @work(thread=True, exclusive=True, group="add-list", exit_on_error=False,
          description="Read the collections")
    def load_collections(self) -> None:
        """Read the library's collections for the list."""
        self.post_message(self.Loaded(list_collections(self.context.library)))

    def on_add_to_collection_screen_loaded(self, message: Loaded) -> None:
        """List the collections, most recently changed first, and "New collection…" last."""
        self.collections = sorted(message.collections, key=lambda c: c.updated_at,
                                  reverse=True)
        options = [
            Option(Text.assemble(
                (c.name, "bold"),
                (f"  {c.item_count} item{'s' if c.item_count != 1 else ''}", "dim"),
            ), id=c.id)
            for c in self.collections
        ]
        options.append(Option(Text("＋ New collection…", style="bold green"), id=NEW))
        self.choices.set_options(options)
        self.choices.highlighted = 0

    @on(OptionList.OptionHighlighted, "#add-choices")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#add-name", Input).display = event.option_id == NEW

    @on(OptionList.OptionSelected, "#add-choices")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option_id == NEW:
            self.query_one("#add-name", Input).focus()
        elif event.option_id is not None:
            self.query_one("#add-note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the name box moves to the note; Enter in the note adds."""
        if event.input.id == "add-name":
            self.query_one("#add-note", Input).focus()
        else:
            self.action_add()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Add or cancel."""
        if event.button.id == "add":
            self.action_add()
        else:
            self.action_cancel()

    def action_add(self) -> None:
        """Close with the choice (a new collection needs a name first)."""
        option = self.choices.highlighted_option
        if option is None or option.id is None:
            self.notify("The collections are still being read.", severity="warning")
            return
        note = self.query_one("#add-note", Input).value.strip() or None
        if option.id == NEW:
            name = self.query_one("#add-name", Input).value.strip()
            if not name:
                self.notify("Type a name for the new collection.", severity="warning")
                self.query_one("#add-name", Input).focus()
                return
            self.dismiss(AddChoice(None, name, note))
        else:
            self.dismiss(AddChoice(option.id, None, note))

    def action_cancel(self) -> None:
        """Close without adding."""
        self.dismiss(None)
