"""Dialogs that change a talk track: its objections and custom tags, and its note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, SelectionList, Static, TextArea

from shadowbox.models import TalkTrack

from ..formatting import clock
from ..widgets.transcript import effective_custom_tags
from .form import FormDialog

if TYPE_CHECKING:
    from shadowbox.objections import Taxonomy


@dataclass(frozen=True)
class TagChoice:
    """What a person decided in the tag dialog: the objections and custom tags the track has."""

    objections: frozenset[str]
    tags: frozenset[str]


def parse_tags(text: str) -> frozenset[str]:
    """Custom tags typed as ``gold, discovery #opener``: split on commas and spaces, no '#'."""
    parts = text.replace(",", " ").split()
    return frozenset(p.lstrip("#").strip().lower() for p in parts if p.lstrip("#").strip())


def _why(track: TalkTrack, objection: str) -> str:
    for tag in track.tags:
        if tag.kind == "objection" and tag.value == objection:
            who = "you" if tag.source == "person" else "auto"
            verdict = "removed" if tag.removed else "tagged"
            reason = f": {tag.reason}" if tag.reason and tag.source == "auto" else ""
            return f"  ({verdict} by {who}{reason})"
    return ""


class TagScreen(FormDialog[TagChoice]):
    """Tick the objections a talk track answers and list its custom tags.

    A person's choice overrides the automatic tagger and survives re-transcription.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="tags.cancel"),
        Binding("ctrl+s", "save", "Save", id="tags.save"),
    ]

    def __init__(self, track: TalkTrack, taxonomy: Taxonomy) -> None:
        """Edit ``track``'s tags; the objections to choose from come from ``taxonomy``."""
        super().__init__()
        self.track = track
        self.taxonomy = taxonomy

    def compose(self) -> ComposeResult:
        """Objection checklist, custom tags, Save and Cancel."""
        track = self.track
        with Vertical(id="dialog", classes="dialog"):
            yield Label(
                f"Tags for talk track #{track.index + 1}  "
                f"({clock(track.start)}-{clock(track.end)})",
                classes="dialog-title",
            )
            yield Static(track.text[:240] + ("…" if len(track.text) > 240 else ""),
                         classes="dialog-quote", markup=False)
            yield Label("Objections it answers (space ticks, Enter saves)")
            yield SelectionList[str](
                *(
                    (Text(f"{o.label} ({o.id}){_why(track, o.id)}"), o.id,
                     o.id in track.objections)
                    for o in self.taxonomy.objections
                ),
                id="objections",
            )
            yield Label("Custom tags (comma or space separated)")
            yield Input(", ".join(effective_custom_tags(track)), placeholder="gold, opener",
                        id="custom-tags")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Start in the checklist."""
        self.query_one(SelectionList).focus()

    def action_save(self) -> None:
        """Close with the choice made."""
        chosen = self.query_one(SelectionList).selected
        tags = parse_tags(self.query_one("#custom-tags", Input).value)
        self.dismiss(TagChoice(frozenset(str(c) for c in chosen), tags))


class NoteScreen(FormDialog[str]):
    """Write a free-text note on a talk track (empty clears it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="note.cancel"),
        Binding("ctrl+s", "save", "Save", id="note.save"),
    ]

    def __init__(self, track: TalkTrack) -> None:
        """Edit ``track``'s note."""
        super().__init__()
        self.track = track

    def compose(self) -> ComposeResult:
        """A text area with Save and Cancel."""
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Note on talk track #{self.track.index + 1}  (Ctrl+S saves)",
                        classes="dialog-title")
            yield TextArea(self.track.note or "", id="note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Start typing at once."""
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        """Close with the note ("" clears it)."""
        self.dismiss(self.query_one(TextArea).text.strip())
