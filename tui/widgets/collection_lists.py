"""The two lists of the collections screen: the collections, and one collection's items.

Both only show what the screen hands them and say what a person picked; the screen does the
reading and the changing (in workers, through ``shadowbox.collections``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from shadowbox.collections import Collection, CollectionItem

from ..formatting import clock

_MOVE = Binding.Group("Move", compact=True)
DESCRIPTION_CHARS = 70
"""How much of a description the list of collections shows (two lines at most)."""
TEXT_CHARS = 320
"""How much of a talk track's text an item shows (the call screen has the rest)."""


def collection_prompt(collection: Collection) -> Text:
    """A collection's entry: its name; its item count and length; what it teaches (dimmed)."""
    text = Text(no_wrap=False)
    text.append(collection.name, style="bold")
    count = collection.item_count
    text.append(f"\n{count} item{'s' if count != 1 else ''}", style="dim")
    if collection.seconds:
        text.append(f" · {clock(collection.seconds)}", style="dim")
    text.append("\n")
    if collection.description:
        line = " ".join(collection.description.split())
        if len(line) > DESCRIPTION_CHARS:
            line = line[: DESCRIPTION_CHARS - 1] + "…"
        text.append(line, style="italic dim")
    else:
        text.append("no description", style="dim")
    return text


def item_prompt(item: CollectionItem, *, playing: bool = False) -> Table:
    """An item's entry: position, call, time range and objections; the text; the note.

    The position sits in a gutter so the wrapped text and the note line up beside it.

    Args:
        item: the item to show.
        playing: whether back-to-back playback is on this item now (marked with ▶).
    """
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=4, no_wrap=True, justify="right")
    grid.add_column(ratio=1)
    head = Text()
    head.append(item.title, style="bold")
    head.append(f"  {item.rep or '-'}  ", style="dim")
    head.append(f"{clock(item.start)}-{clock(item.end)}", style="cyan")
    if item.track_id is None:
        head.append("  range", style="dim")
    for objection in item.objections:
        head.append("  ")
        head.append(f" {objection} ", style="black on yellow")
    position = Text(f"▶{item.position}." if playing else f"{item.position}.",
                    style="bold green" if playing else "bold")
    grid.add_row(position, head)
    body = " ".join(item.text.split())
    if len(body) > TEXT_CHARS:
        body = body[: TEXT_CHARS - 1] + "…"
    grid.add_row("", Text(body, style="") if body else Text("(no transcript yet)", style="dim"))
    if item.note:
        grid.add_row(Text("✎", style="green"),
                     Text(" ".join(item.note.split()), style="italic green"))
    return grid


class CollectionList(OptionList):
    """Every collection of the library; moving the cursor shows that collection's items.

    Its keys act on the highlighted collection (the footer is too narrow for every key of
    the screen at once, so each list shows its own).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "To the items", show=False, id="collection_list.items"),
        Binding("a", "screen.new", "New", tooltip="New collection", id="collection_list.new"),
        Binding("e", "screen.rename", "Rename", tooltip="Rename the collection",
                id="collection_list.rename"),
        Binding("d", "screen.describe", "Describe", tooltip="Describe the collection",
                id="collection_list.describe"),
        Binding("D", "screen.delete", "Delete", tooltip="Delete the collection (asks first)",
                id="collection_list.delete"),
    ]

    DEFAULT_CSS = """
    CollectionList { height: 1fr; border: none; }
    CollectionList > .option-list--option { padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        """Empty until :meth:`show`."""
        super().__init__(id=id)
        self.collections: list[Collection] = []

    def show(self, collections: list[Collection], select: str | None = None) -> None:
        """Replace the list, putting the cursor on collection ``select`` (an id) if it is there.

        Args:
            collections: the collections in the order to list them.
            select: the id to highlight; otherwise the one highlighted before, or the first.
        """
        before = self.current
        keep = select or (before.id if before is not None else None)
        self.collections = list(collections)
        options: list[Option | None] = []
        for i, collection in enumerate(self.collections):
            if i:
                options.append(None)
            options.append(Option(collection_prompt(collection), id=collection.id))
        self.set_options(options)
        ids = [c.id for c in self.collections]
        if ids:
            self.highlighted = ids.index(keep) if keep in ids else 0

    @property
    def current(self) -> Collection | None:
        """The highlighted collection."""
        if self.highlighted is None or self.highlighted >= len(self.collections):
            return None
        return self.collections[self.highlighted]


class ItemList(OptionList):
    """A collection's items in order; Enter opens the call at the item, keys edit the order."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open call", tooltip="Open the call at this item",
                id="items.open"),
        Binding("n", "screen.edit_note", "Note", tooltip="Edit the curator's note",
                id="items.note"),
        Binding("shift+up", "screen.move_item(-1)", "Move up", key_display="⇧↑",
                group=_MOVE, id="items.move_up"),
        Binding("shift+down", "screen.move_item(1)", "Move down", key_display="⇧↓",
                group=_MOVE, id="items.move_down"),
        Binding("x,delete", "screen.remove_item", "Remove",
                tooltip="Remove the item from the collection", id="items.remove"),
    ]

    DEFAULT_CSS = """
    ItemList { height: 1fr; border: none; }
    ItemList > .option-list--option { padding: 0 1; }
    """

    @dataclass
    class Opened(Message):
        """A person chose an item: open its call there."""

        item: CollectionItem

    def __init__(self, *, id: str | None = None) -> None:
        """Empty until :meth:`show`."""
        super().__init__(id=id)
        self.items: list[CollectionItem] = []
        self.collection_id: str | None = None
        """The collection whose items are listed."""
        self._playing: str | None = None

    def show(self, collection_id: str | None, items: list[CollectionItem],
             select: str | None = None) -> None:
        """Replace the list, putting the cursor on item ``select`` (an id) if it is there.

        Args:
            collection_id: the collection the items belong to (None: no collection).
            items: the collection's items in order.
            select: the item id to highlight; otherwise the same place as before (in the
                same collection), or the first.
        """
        keep = self.highlighted if collection_id == self.collection_id else 0
        self.collection_id = collection_id
        self.items = list(items)
        options: list[Option | None] = []
        for i, item in enumerate(self.items):
            if i:
                options.append(None)
            options.append(Option(item_prompt(item, playing=item.id == self._playing),
                                  id=item.id))
        self.set_options(options)
        ids = [i.id for i in self.items]
        if not ids:
            return
        if select in ids:
            self.highlighted = ids.index(select)
        else:
            self.highlighted = min(keep or 0, len(ids) - 1)

    @property
    def current(self) -> CollectionItem | None:
        """The highlighted item."""
        if self.highlighted is None or self.highlighted >= len(self.items):
            return None
        return self.items[self.highlighted]

    @property
    def playing(self) -> str | None:
        """The id of the item marked as playing."""
        return self._playing

    def mark_playing(self, item_id: str | None) -> None:
        """Mark the item being heard (None: none) with ▶, un-marking the one before."""
        if item_id == self._playing:
            return
        before, self._playing = self._playing, item_id
        for i, item in enumerate(self.items):
            if item.id in (before, item_id):
                self.replace_option_prompt_at_index(
                    i, item_prompt(item, playing=item.id == item_id)
                )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Turn the generic selection into :class:`Opened` carrying the item."""
        event.stop()
        self.post_message(self.Opened(self.items[event.option_index]))
