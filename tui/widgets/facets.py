"""Objection facets: every objection with how many talk tracks answer it; pick one to filter."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

ALL = "*"
"""The option id that clears the objection filter."""


@dataclass(frozen=True)
class Facet:
    """One objection and its count of talk tracks."""

    id: str
    label: str
    count: int


class FacetList(OptionList):
    """The objection facets; the chosen one is marked and filters the search."""

    DEFAULT_CSS = """
    FacetList { width: 30; height: 1fr; }
    """

    @dataclass
    class Changed(Message):
        """The objection filter changed (None: all objections)."""

        objection: str | None

    def __init__(self, *, id: str | None = None) -> None:
        """Empty until :meth:`show` gives it the counts."""
        super().__init__(id=id)
        self.facets: list[Facet] = []
        self.active: str | None = None

    def show(self, facets: list[Facet]) -> None:
        """Show the facets, keeping the active one and the highlight where they were."""
        self.facets = facets
        keep = self.highlighted or 0
        self.set_options(self._facet_options())
        if self.option_count:
            self.highlighted = min(keep, self.option_count - 1)

    def _facet_options(self) -> list[Option]:
        options = [Option(self._prompt("all", None, self.active is None), id=ALL)]
        for facet in self.facets:
            chosen = facet.id == self.active
            options.append(
                Option(self._prompt(facet.id, facet.count, chosen), id=facet.id)
            )
        return options

    def _prompt(self, name: str, count: int | None, chosen: bool) -> Text:
        # The id is what `objection:` takes in the search box, so the list teaches it.
        text = Text("● " if chosen else "  ", style="bold green" if chosen else "")
        text.append(f"{name:<16}", style="bold" if chosen else "")
        if count is not None:
            text.append(f"{count:>5}", style="dim")
        return text

    def choose(self, objection: str | None) -> None:
        """Make ``objection`` (None: all) the active facet and say so."""
        self.active = objection
        self.set_options(self._facet_options())
        ids = [ALL, *(f.id for f in self.facets)]
        key = objection or ALL
        self.highlighted = ids.index(key) if key in ids else 0
        self.post_message(self.Changed(objection))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Choosing a facet toggles it (choosing the active one again clears the filter)."""
        event.stop()
        chosen = None if event.option_id in (None, ALL) else event.option_id
        self.choose(None if chosen == self.active else chosen)
