"""The list of calls: a virtual table that reads only the pages of calls it shows.

A DataTable holding every row takes about a second per 10,000 calls to build; this widget
knows only the total and asks a thread worker for the pages that scroll into view, so it
paints at once whatever the size of the library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from shadowbox.models import Call

from ..context import AppContext
from ..formatting import clock, day, fit, status
from ..messages import ReportsWorkerErrors

PAGE = 100
"""Calls read per query; a screen shows far fewer, so one page usually suffices."""

_FIXED = (("Rep", 12), ("Date", 10), ("Length", 7), ("Status", 18))


class CallsTable(ReportsWorkerErrors, ScrollView, can_focus=True):
    """Calls newest first (title, rep, date, length, status), paged in from the library."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="calls.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="calls.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="calls.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="calls.page_down"),
        Binding("home", "jump(0)", "First call", show=False, id="calls.first"),
        Binding("end", "jump(-1)", "Last call", show=False, id="calls.last"),
        Binding("enter", "open", "Open call", id="calls.open"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "calls-table--header",
        "calls-table--cursor",
        "calls-table--placeholder",
    }
    DEFAULT_CSS = """
    CallsTable { height: 1fr; }
    CallsTable > .calls-table--header { text-style: bold; color: $text-accent; }
    CallsTable > .calls-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; text-style: bold; }
    CallsTable:blur > .calls-table--cursor { background: $block-cursor-blurred-background;
        text-style: none; }
    CallsTable > .calls-table--placeholder { color: $text-muted; }
    """

    @dataclass
    class Opened(Message):
        """A person chose a call to open."""

        call: Call

    @dataclass
    class Loaded(Message):
        """A page of calls arrived from the library (posted by this widget's worker)."""

        generation: int
        offset: int
        calls: list[Call]
        total: int

    cursor: reactive[int] = reactive(0)

    def __init__(self, context: AppContext, *, id: str | None = None) -> None:
        """Show the calls of ``context``'s library; pages load when the widget mounts."""
        super().__init__(id=id)
        self.context = context
        self.total: int | None = None
        self._rows: dict[int, Call] = {}
        self._pending: set[int] = set()
        self._generation = 0

    # ------------------------------------------------------------------ data

    def on_mount(self) -> None:
        """Fetch the first page."""
        self._request(0)

    def reload(self) -> None:
        """Forget every row read so far and read the visible ones again (calls changed)."""
        self._generation += 1
        self._pending.clear()
        first = self.scroll_offset.y // PAGE
        self._request(first)

    def refresh_visible(self) -> None:
        """Re-read the pages on screen (to follow statuses that change elsewhere)."""
        top = self.scroll_offset.y
        for page in {top // PAGE, (top + self.size.height) // PAGE}:
            self._request(page, force=True)

    def _request(self, page: int, *, force: bool = False) -> None:
        if page in self._pending and not force:
            return
        self._pending.add(page)
        self._load(self._generation, page * PAGE)

    @work(thread=True, group="calls-page", exit_on_error=False, description="Read calls")
    def _load(self, generation: int, offset: int) -> None:
        library = self.context.library
        total = library.count_calls()
        calls = library.list_calls(limit=PAGE, offset=offset)
        self.post_message(self.Loaded(generation, offset, calls, total))

    def on_calls_table_loaded(self, message: CallsTable.Loaded) -> None:
        """Keep the page and repaint; a stale page (from before a reload) is dropped."""
        message.stop()
        if message.generation != self._generation:
            return
        self._pending.discard(message.offset // PAGE)
        if message.offset == 0 or self.total != message.total:
            if self.total != message.total:
                self._rows.clear()
            self.total = message.total
            self.virtual_size = Size(0, message.total + 1)
        for i, call in enumerate(message.calls):
            self._rows[message.offset + i] = call
        if self.cursor >= max(self.total or 0, 1):
            self.cursor = max((self.total or 0) - 1, 0)
        self.refresh()

    def update_progress(self, call_id: str, fraction: float) -> None:
        """Show a call's transcription progress without asking the library."""
        for index, call in self._rows.items():
            if call.id == call_id:
                self._rows[index] = dataclasses.replace(
                    call, status="transcribing" if fraction < 1 else call.status,
                    progress=fraction,
                )
                self.refresh_line(index + 1 - self.scroll_offset.y)
                return

    @property
    def current_call(self) -> Call | None:
        """The call under the cursor, if its page has arrived."""
        return self._rows.get(self.cursor)

    def visible_calls(self) -> list[Call]:
        """The calls currently on screen (those that have been read)."""
        top = self.scroll_offset.y
        rows = (self._rows.get(i) for i in range(top, top + self.size.height))
        return [c for c in rows if c is not None]

    # ------------------------------------------------------------------ cursor

    def watch_cursor(self, old: int, new: int) -> None:
        """Keep the cursor on screen and repaint the two rows that changed."""
        top = self.scroll_offset.y
        body = max(self.size.height - 1, 1)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + body:
            self.scroll_to(y=new - body + 1, animate=False)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        """Move the cursor up or down."""
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor a screenful."""
        self._move_to(self.cursor + direction * max(self.size.height - 2, 1))

    def action_jump(self, row: int) -> None:
        """Jump to the first row (0) or the last (-1)."""
        self._move_to(row if row >= 0 else (self.total or 1) - 1)

    def _move_to(self, row: int) -> None:
        self.cursor = min(max(row, 0), max((self.total or 1) - 1, 0))

    def action_open(self) -> None:
        """Open the call under the cursor."""
        call = self.current_call
        if call is not None:
            self.post_message(self.Opened(call))

    def on_click(self, event: events.Click) -> None:
        """A click selects a row; a double click (or a click on the selected row) opens it."""
        if event.y < 1:
            return
        row = self.scroll_offset.y + event.y - 1
        if self.total is None or row >= self.total:
            return
        if row == self.cursor or event.chain >= 2:
            self.cursor = row
            self.action_open()
        else:
            self.cursor = row

    # ------------------------------------------------------------------ painting

    def _columns(self, width: int) -> list[int]:
        fixed = sum(w + 1 for _, w in _FIXED)
        return [max(width - fixed - 1, 8), *(w for _, w in _FIXED)]

    def render_line(self, y: int) -> Strip:
        """Row ``y`` of the widget: the header on top, then the calls scrolled into view."""
        width = self.size.width
        base = self.rich_style
        if y == 0:
            return self._header(width, base)
        if self.total is None:
            text = "Loading calls…" if y == 1 else ""
            style = base + self.get_component_rich_style("calls-table--placeholder")
            return Strip([Segment(fit(text, width), style)], width)
        row = self.scroll_offset.y + y - 1
        if row >= self.total:
            if self.total == 0 and y == 2:
                style = base + self.get_component_rich_style("calls-table--placeholder")
                hint = "No calls yet: press r to record one, or run `shadowbox import FILE`."
                return Strip([Segment(fit("  " + hint, width), style)], width)
            return Strip.blank(width, base)
        call = self._rows.get(row)
        if call is None:
            self._request(row // PAGE)
            style = base + self.get_component_rich_style("calls-table--placeholder")
            return Strip([Segment(fit("  …", width), style)], width)
        style = base
        if row == self.cursor:
            style = base + self.get_component_rich_style("calls-table--cursor")
        return self._row(call, width, style)

    def _header(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("calls-table--header")
        names = ["Title", *(n for n, _ in _FIXED)]
        cells = [fit(n, w) for n, w in zip(names, self._columns(width), strict=True)]
        return Strip([Segment(fit(" " + " ".join(cells), width), style)], width)

    def _row(self, call: Call, width: int, style: Style) -> Strip:
        title_w, rep_w, date_w, len_w, status_w = self._columns(width)
        line = Text(" ", style=style, no_wrap=True, end="")
        line.append(fit(call.title, title_w) + " ")
        line.append(fit(call.rep or "-", rep_w) + " ")
        line.append(fit(day(call.recorded_at), date_w) + " ")
        line.append(fit(clock(call.duration), len_w) + " ")
        line.append_text(status(call, status_w))
        line.truncate(width, pad=True)
        return Strip(list(line.render(self.app.console)), width).crop_extend(0, width, style)
