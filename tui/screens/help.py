"""The key list: every binding of the screen below it, with what it does and where it works."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

_DESCRIPTIONS = {"command_palette": "Command palette: search every action"}


def _where(node: DOMNode, screen: Screen[object]) -> str:
    if node is screen.app:
        return "everywhere"
    if node is screen:
        return "this screen"
    return f"in the {type(node).__name__.lower().replace('list', ' list')}"


def binding_rows(screen: Screen[object]) -> list[tuple[str, str, str]]:
    """(key, what it does, where) for every binding on ``screen``: app, screen and widgets.

    Widgets that are not focused now still list their keys, so nothing is hidden; a key the
    screen or app already claims is listed once, where it takes effect (a key two widgets
    share, as the focused one uses it).
    """
    app = screen.app
    rows: list[tuple[str, str, str]] = []
    claimed: set[str] = set()
    nodes: list[DOMNode] = [app, screen]
    # The focused widget first: when two lists share a key, what it does there is listed.
    if screen.focused is not None:
        nodes.append(screen.focused)
    nodes.extend(w for w in screen.query("*") if type(w).__module__.startswith("shadowbox_tui")
                 and w is not screen.focused)
    for node in nodes:
        where = _where(node, screen)
        grouped: dict[str, list[str]] = {}
        for key, bindings in node._bindings.key_to_bindings.items():
            for binding in bindings:
                if not binding.description or key in claimed:
                    continue
                claimed.add(key)
                display = app.get_key_display(Binding(key, binding.action))
                # The footer has room for a word; a tooltip says the whole of it.
                description = _DESCRIPTIONS.get(binding.action,
                                                binding.tooltip or binding.description)
                keys = grouped.setdefault(description, [])
                if display not in keys:
                    keys.append(display)
        rows.extend((" ".join(keys), description, where) for description, keys in grouped.items())
    return rows


class HelpScreen(ModalScreen[None]):
    """Lists every key; Escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, below: Screen[object]) -> None:
        """List the keys of ``below`` (the screen the person was on)."""
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        """A table of keys in a scrollable box."""
        table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
        table.add_column("Key", style="bold cyan", no_wrap=True)
        table.add_column("Does")
        table.add_column("Where", style="dim")
        for key, does, where in binding_rows(self.below):
            table.add_row(Text(key), Text(does), Text(where))
        with VerticalScroll(id="dialog", classes="dialog help"):
            yield Label("Keys  (Escape closes; Ctrl+P searches the actions)",
                        classes="dialog-title")
            yield Static(table)

    def action_close(self) -> None:
        """Back to where the person was."""
        self.dismiss()
