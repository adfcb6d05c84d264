"""The library screen: the calls, search-as-you-type with lit snippets, objection facets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Input, Label, Static

from shadowbox.errors import ShadowboxError
from shadowbox.library import Library
from shadowbox.models import Hit

from ..context import AppContext
from ..messages import ReportsWorkerErrors
from ..widgets.calls_table import CallsTable
from ..widgets.facets import Facet, FacetList
from ..widgets.results import ResultsList

DEBOUNCE = 0.06
"""Seconds between searches while typing: a pause this long always searches at once."""
RESULT_PAGE = 20
"""Hits read per search; more are read when the cursor reaches the last one."""
RESULT_MAX = 500
POLL_SECONDS = 2.0
"""How often statuses of calls on screen are re-read while any is queued or transcribing."""


class SearchInput(Input):
    """The search box; Down moves into the list below it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "screen.focus_list", "To the list", show=False, id="search.to_list"),
    ]


class LibraryScreen(ReportsWorkerErrors, Screen[None]):
    """Browse calls, search what reps said, filter by objection, and open what you find."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/", id="library.search"),
        Binding("escape", "clear_search", "Clear search", id="library.clear"),
        Binding("o", "focus_facets", "Objections", id="library.facets"),
        Binding("ctrl+l", "focus_list", "Calls / hits", show=False, id="library.list"),
    ]

    @dataclass
    class SearchDone(Message):
        """Results of search number ``seq`` (older ones are dropped when they arrive late)."""

        seq: int
        text: str
        limit: int
        hits: list[Hit]
        error: str | None
        seconds: float

    @dataclass
    class FacetsLoaded(Message):
        """The taxonomy's objections with their counts of talk tracks."""

        facets: list[Facet]

    def __init__(self, context: AppContext) -> None:
        """The library of ``context``; data loads in workers once mounted."""
        super().__init__(id="library")
        self.context = context
        self._seq = 0
        self._limit = RESULT_PAGE
        self._search_running: tuple[int, Library] | None = None
        self._last_launch = 0.0
        self._timer: Timer | None = None
        self.last_results_at = 0.0
        """perf_counter when results were last shown (benchmarks read it)."""
        self.last_query_seconds = 0.0
        """How long the library took to answer the search on screen (benchmarks read it)."""
        self.shown_text: str | None = None
        """The search text whose results are on screen (tests and benchmarks read it)."""

    # ------------------------------------------------------------------ accessors

    @property
    def search_box(self) -> Input:
        """The search input."""
        return self.query_one("#search", Input)

    @property
    def calls(self) -> CallsTable:
        """The table of calls."""
        return self.query_one(CallsTable)

    @property
    def results(self) -> ResultsList:
        """The list of search hits."""
        return self.query_one(ResultsList)

    @property
    def facets(self) -> FacetList:
        """The objection facets."""
        return self.query_one(FacetList)

    @property
    def switcher(self) -> ContentSwitcher:
        """Shows the calls, or the hits while a search or filter is active."""
        return self.query_one(ContentSwitcher)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        """Title bar, facets on the left, search and list on the right, footer."""
        yield Static("Shadowbox  ·  Library", id="title-bar")
        with Horizontal(id="library-body"):
            with Vertical(id="sidebar"):
                yield Label("Objections", classes="section-title")
                yield FacetList(id="facets")
            with Vertical(id="main"):
                yield SearchInput(
                    placeholder="Type to search what reps said…  objection:price  rep:dana",
                    select_on_focus=False, id="search",
                )
                yield Static("", id="search-status")
                with ContentSwitcher(initial="calls", id="views"):
                    yield CallsTable(self.context, id="calls")
                    yield ResultsList(id="results")
        yield Footer()

    def on_mount(self) -> None:
        """Start on the calls, load the facets, and keep statuses fresh."""
        self.calls.focus()
        self.load_facets()
        self.set_interval(POLL_SECONDS, self._poll_statuses)

    def _poll_statuses(self) -> None:
        if self.switcher.current != "calls":
            return
        if any(c.status in ("queued", "transcribing") for c in self.calls.visible_calls()):
            self.calls.refresh_visible()

    def library_changed(self) -> None:
        """Calls, tags or notes changed somewhere: read the list, facets and hits again."""
        self.calls.reload()
        self.load_facets()
        if self.switcher.current == "results":
            self._run_search()

    # ------------------------------------------------------------------ facets

    @work(thread=True, exclusive=True, group="facets", exit_on_error=False,
          description="Count objections")
    def load_facets(self) -> None:
        """Read the taxonomy and how many talk tracks answer each objection."""
        taxonomy = self.context.taxonomy
        counts = self.context.library.label_counts("objection")
        facets = [Facet(o.id, o.label, counts.get(o.id, 0)) for o in taxonomy.objections]
        self.post_message(self.FacetsLoaded(facets))

    def on_library_screen_facets_loaded(self, message: FacetsLoaded) -> None:
        """Show the facets."""
        self.facets.show(message.facets)

    @on(FacetList.Changed)
    def _facet_changed(self, message: FacetList.Changed) -> None:
        self._run_search()

    # ------------------------------------------------------------------ search

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        wait = DEBOUNCE - (time.monotonic() - self._last_launch)
        if wait <= 0:
            self._run_search()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._run_search)

    @on(Input.Submitted, "#search")
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_focus_list()

    def _run_search(self, limit: int = RESULT_PAGE) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._last_launch = time.monotonic()
        self._seq += 1
        self._limit = limit
        running = self._search_running
        if running is not None:
            # Its answer is already out of date: stop it rather than let it use a CPU.
            running[1].conn.interrupt()
        text = self.search_box.value
        objection = self.facets.active
        if not text.strip() and objection is None:
            self.switcher.current = "calls"
            self.query_one("#search-status", Static).update("")
            self.shown_text = None
            return
        self.switcher.current = "results"
        self.search_worker(self._seq, text, objection, limit)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False,
          description="Search")
    def search_worker(self, seq: int, text: str, objection: str | None, limit: int) -> None:
        """Run one search off the event loop and post its hits (or why there are none)."""
        from shadowbox.search import search  # its taxonomy code is not needed to paint

        began = time.perf_counter()
        library = self.context.library
        taxonomy = self.context.taxonomy
        self._search_running = (seq, library)
        try:
            hits = search(library, taxonomy, text, objections=[objection] if objection else [],
                          typing=True, limit=limit)
            error = None
        except ShadowboxError as exc:
            hits, error = [], str(exc)
        finally:
            if self._search_running is not None and self._search_running[0] == seq:
                self._search_running = None
        self.post_message(
            self.SearchDone(seq, text, limit, hits, error, time.perf_counter() - began)
        )

    def on_library_screen_search_done(self, message: SearchDone) -> None:
        """Show the hits of the latest search; results of superseded searches are dropped."""
        if message.seq != self._seq:
            return
        more = message.limit > RESULT_PAGE and self.shown_text == message.text
        self.results.show(message.hits, keep_highlight=more)
        status = self.query_one("#search-status", Static)
        if message.error:
            status.update(message.error)
            status.add_class("error")
        else:
            status.remove_class("error")
            n = len(message.hits)
            plus = "+" if n >= message.limit else ""
            label = f"{n}{plus} hit{'s' if n != 1 else ''}"
            if self.facets.active:
                label += f" · objection: {self.facets.active}"
            status.update(f"{label}  ·  Enter plays the highlighted hit")
        self.shown_text = message.text
        self.last_query_seconds = message.seconds
        self.last_results_at = time.perf_counter()

    @on(ResultsList.OptionHighlighted, "#results")
    def _maybe_more(self, event: ResultsList.OptionHighlighted) -> None:
        hits = self.results.hits
        at_end = event.option_index >= self.results.option_count - 1
        if at_end and len(hits) >= self._limit and self._limit < RESULT_MAX:
            self._run_search(limit=min(self._limit * 3, RESULT_MAX))

    # ------------------------------------------------------------------ opening

    @on(CallsTable.Opened)
    def _open_call(self, message: CallsTable.Opened) -> None:
        from .call import CallScreen

        self.app.push_screen(CallScreen(self.context, message.call.id))

    @on(ResultsList.Chosen)
    def _open_hit(self, message: ResultsList.Chosen) -> None:
        from .call import CallScreen

        hit = message.hit
        self.app.push_screen(
            CallScreen(self.context, hit.call_id, start_at=hit.start, segment_id=hit.segment_id,
                       track_id=hit.track_id, autoplay=True)
        )

    def on_key(self, event: events.Key) -> None:
        """Typing a word anywhere on this screen searches for it (keys with a binding keep
        their meaning); this also catches keys typed in the same instant as ``/``."""
        # The box itself takes its printable keys, so any that reach here came from elsewhere
        # (keys queued for the list before "/" moved the focus included).
        box = self.search_box
        if not event.is_printable or event.character is None:
            return
        if event.key in self.active_bindings or event.key == "space":
            return
        event.stop()
        event.prevent_default()
        self.set_focus(box)
        box.insert_text_at_cursor(event.character)

    # ------------------------------------------------------------------ actions

    def action_focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.set_focus(self.search_box)

    def action_focus_facets(self) -> None:
        """Move to the objection facets."""
        self.set_focus(self.facets)

    def action_focus_list(self) -> None:
        """Move to the list on show (hits while searching, else calls)."""
        if self.switcher.current == "results":
            self.set_focus(self.results)
        else:
            self.set_focus(self.calls)

    def action_clear_search(self) -> None:
        """Empty the search box and the objection filter and go back to the calls."""
        changed = bool(self.search_box.value) or self.facets.active is not None
        self.search_box.value = ""
        if self.facets.active is not None:
            self.facets.choose(None)
        if changed:
            self._run_search()
        self.set_focus(self.calls)
