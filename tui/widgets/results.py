"""Search results: one entry per hit, the title line over a snippet with its matches lit."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from shadowbox.models import Hit

from ..formatting import clock, highlight_snippet


def hit_prompt(hit: Hit) -> Text:
    """Two lines for a hit: where it is (title, rep, time, objections), then what was said."""
    text = Text(no_wrap=False)
    text.append(hit.title, style="bold")
    text.append(f"  {hit.rep or '-'}  ", style="dim")
    text.append(f"{clock(hit.start)}-{clock(hit.end)}", style="cyan")
    for objection in hit.objections:
        text.append("  ")
        text.append(f" {objection} ", style="black on yellow")
    text.append("\n")
    text.append_text(highlight_snippet(hit.snippet))
    return text


class ResultsList(OptionList):
    """Hits of the current search; choosing one opens its call playing from the hit."""

    DEFAULT_CSS = """
    ResultsList { height: 1fr; border: none; }
    ResultsList > .option-list--option { padding: 0 1; }
    """

    @dataclass
    class Chosen(Message):
        """A person picked a hit to hear."""

        hit: Hit

    def __init__(self, *, id: str | None = None) -> None:
        """An empty list; :meth:`show` fills it."""
        super().__init__(id=id)
        self.hits: list[Hit] = []

    def show(self, hits: list[Hit], *, keep_highlight: bool = False) -> None:
        """Replace the list with ``hits`` (best first), highlighting the first one.

        Args:
            hits: the hits in rank order.
            keep_highlight: keep the cursor where it was (more hits of the same search).
        """
        keep = self.highlighted if keep_highlight else None
        self.hits = list(hits)
        options: list[Option | None] = []
        for i, hit in enumerate(self.hits):
            if i:
                options.append(None)
            options.append(Option(hit_prompt(hit), id=str(i)))
        self.set_options(options)
        if self.hits:
            self.highlighted = min(keep, len(options) - 1) if keep is not None else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Turn the generic selection into a :class:`Chosen` carrying the hit."""
        event.stop()
        if event.option_id is not None:
            self.post_message(self.Chosen(self.hits[int(event.option_id)]))
