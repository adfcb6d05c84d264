"""The player bar: play state, position, a progress line with bookmarks, speed, skip-silence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

if TYPE_CHECKING:
    from shadowbox.playback import PlayerState


from ..formatting import clock


class PlayerBar(Widget):
    """Shows the player's state; a click on the progress line seeks there."""

    DEFAULT_CSS = """
    PlayerBar { height: 2; padding: 0 1; background: $boost; }
    """

    state: reactive[PlayerState | None] = reactive(None)
    problem: reactive[str | None] = reactive(None)
    """Why playback is impossible (no device), shown instead of the controls."""
    loading: reactive[bool] = reactive(True)

    @dataclass
    class Seek(Message):
        """A person clicked the progress line at ``fraction`` (0..1) of the recording."""

        fraction: float

    def __init__(self, *, id: str | None = None) -> None:
        """A bar with nothing loaded yet."""
        super().__init__(id=id)
        self.markers: list[float] = []
        self._bar_from = 0
        self._bar_width = 0

    def render(self) -> Text:
        """Two lines: the controls, then the progress line."""
        if self.problem:
            text = Text("■ ", style="bold red")
            text.append("Cannot play: ", style="bold red")
            text.append(self.problem)
            return text
        state = self.state
        if state is None:
            return Text("Loading audio…" if self.loading else "", style="dim")
        text = Text()
        text.append("▶ playing " if state.playing else "⏸ paused  ", style="bold")
        text.append(f"{clock(state.position)} / {clock(state.duration)}", style="bold cyan")
        text.append(f"   speed {state.speed:g}x", style="bold" if state.speed != 1 else "dim")
        text.append("   skip silence ", style="dim")
        text.append("on" if state.skip_silence else "off",
                    style="bold green" if state.skip_silence else "dim")
        if state.ended:
            text.append("   (end)", style="dim")
        if state.underruns:
            text.append(f"   {state.underruns} dropouts", style="yellow")
        text.append("\n")
        width = max(self.size.width - 2, 10)
        self._bar_from, self._bar_width = 0, width
        fraction = state.position / state.duration if state.duration else 0.0
        filled = min(int(fraction * width), width)
        cells = ["━"] * filled + ["─"] * (width - filled)
        for at in self.markers:
            i = min(int(at / state.duration * width), width - 1) if state.duration else 0
            cells[i] = "◆"
        bar = Text()
        for i, cell in enumerate(cells):
            style = "yellow" if cell == "◆" else ("cyan" if i < filled else "dim")
            bar.append(cell, style=style)
        text.append_text(bar)
        return text

    def on_click(self, event: events.Click) -> None:
        """A click on the progress line seeks to that point."""
        offset = event.get_content_offset(self)
        if offset is not None and offset.y == 1 and self.state is not None and self._bar_width:
            fraction = (offset.x - self._bar_from) / self._bar_width
            self.post_message(self.Seek(min(max(fraction, 0.0), 1.0)))
