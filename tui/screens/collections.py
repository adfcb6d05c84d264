"""The collections screen: curated best-of lists, their items in order, back-to-back playback.

Left, the library's collections; right, the highlighted one's items (call, time range,
objections, what the rep said, the curator's note). Every change goes through
``shadowbox.collections`` in a thread worker, so a mistake (a taken name, say) comes back as
a notification. ``p`` decodes the whole collection into one playlist (in a worker: several
calls may need decoding) and plays it through a :class:`~shadowbox.playback.Player`; the
player bar and the ▶ in the list say which item is being heard.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, OptionList, Static

from shadowbox import collections as curation
from shadowbox.collections import Collection, CollectionItem, Playlist, PlaylistEntry
from shadowbox.errors import ShadowboxError
from shadowbox.library import Library

from ..context import AppContext
from ..formatting import clock
from ..messages import LibraryChanged, ReportsWorkerErrors
from ..widgets.collection_lists import CollectionList, ItemList
from ..widgets.player_bar import PlayerBar
from .collection_dialogs import ConfirmScreen, TextPrompt

if TYPE_CHECKING:
    from shadowbox.playback import Player

_ITEM = Binding.Group("Item", compact=True)
TICK_SECONDS = 0.05
"""How often the player bar and the ▶ follow the sound."""
DEVICE_START_SECONDS = 2.0
"""How long a new playlist waits for the output stream to run before it starts playing."""
BACK_TO_START_SECONDS = 1.5
"""Within this long of an item's start, ``[`` goes to the item before; later, to its start."""


@dataclass(frozen=True)
class Outcome:
    """What an edit leaves on screen: the collection and item to highlight, a notice."""

    select: str | None
    item: str | None = None
    notice: str | None = None


def _close_in_background(player: Player | None) -> None:
    """Silence ``player`` now and free its device in a thread (closing may wait)."""
    if player is not None:
        player.pause()
        threading.Thread(target=player.close, name="shadowbox-player-close",
                         daemon=True).start()


def _signature(items: Sequence[CollectionItem]) -> tuple[tuple[str, float, float], ...]:
    """What a collection's playlist is made of: a changed item list needs a new one."""
    return tuple((item.id, item.start, item.end) for item in items)


class CollectionsScreen(ReportsWorkerErrors, Screen[None]):
    """Curate best-of lists of talk tracks and hear a whole list back to back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "play", "Play", tooltip="Play the collection back to back",
                id="collections.play"),
        Binding("space", "play_pause", "Pause", tooltip="Pause or resume the collection",
                id="collections.pause"),
        Binding("left_square_bracket", "item(-1)", "Previous item", key_display="[",
                group=_ITEM, id="collections.prev_item"),
        Binding("right_square_bracket", "item(1)", "Next item", key_display="]",
                group=_ITEM, id="collections.next_item"),
        Binding("minus,less_than_sign", "speed(-1)", "Slower", key_display="-", show=False,
                id="collections.slower"),
        Binding("plus,equals_sign,greater_than_sign", "speed(1)", "Faster", key_display="+",
                show=False, id="collections.faster"),
        Binding("left", "focus_pane('collections')", "To the collections", show=False,
                id="collections.to_list"),
        Binding("right", "focus_pane('items')", "To the items", show=False,
                id="collections.to_items"),
        Binding("escape", "back", "Back", id="collections.back"),
    ]

    @dataclass
    class Shown(Message):
        """The collections as stored now, and the items of the one to highlight."""

        collections: list[Collection]
        select: str | None
        items: list[CollectionItem]
        item: str | None
        notice: str | None

    @dataclass
    class ItemsLoaded(Message):
        """The items of ``collection_id`` were read."""

        collection_id: str
        items: list[CollectionItem]

    @dataclass
    class PlaylistReady(Message):
        """A collection's audio is joined and the output device open (or why it is not)."""

        seq: int
        collection: Collection
        playlist: Playlist
        player: Player | None
        problem: str | None
        start_item: str | None

    @dataclass
    class PlaylistPrepared(Message):
        """The highlighted collection's audio, ready before anyone asks to hear it."""

        collection: Collection
        signature: tuple[tuple[str, float, float], ...]
        playlist: Playlist
        player: Player | None
        problem: str | None

    @dataclass
    class PrepareFailed(Message):
        """Getting a collection's audio ready failed; ``p`` will try again and say why."""

        collection_id: str

    def __init__(self, context: AppContext) -> None:
        """The collections of ``context``'s library; data loads in workers once shown."""
        super().__init__(id="collections")
        self.context = context
        self.player: Player | None = None
        """The back-to-back player, once a collection has been played."""
        self.playlist: Playlist | None = None
        self.playing_collection: Collection | None = None
        self.problem: str | None = None
        """Why the collection cannot be played (no output device), once that is known."""
        self._play_seq = 0
        self._loading_audio = False
        self._closed = False
        self._stale = True
        self._edit_lock = threading.Lock()
        self._items_of: str | None = None
        self._prepared: CollectionsScreen.PlaylistPrepared | None = None
        """The highlighted collection's playlist with its output stream already running, so
        ``p`` is heard at once (a new stream can take seconds to start on a sound server)."""
        self._preparing: str | None = None
        """The collection whose playlist is being prepared: ``p`` waits for it rather than
        opening a second stream (opening one while another plays stalls the sound server)."""
        self._play_when_prepared: tuple[int, str | None] | None = None
        self.reads = 0
        """How many times lists read from the store were shown (tests wait on it)."""

    # ------------------------------------------------------------------ accessors

    @property
    def collection_list(self) -> CollectionList:
        """The list of collections."""
        return self.query_one(CollectionList)

    @property
    def item_list(self) -> ItemList:
        """The highlighted collection's items."""
        return self.query_one(ItemList)

    @property
    def player_bar(self) -> PlayerBar:
        """The player bar."""
        return self.query_one(PlayerBar)

    @property
    def current(self) -> Collection | None:
        """The highlighted collection."""
        return self.collection_list.current

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        """Title, collections beside the items, what is playing, the player bar, footer."""
        yield Static("Shadowbox  ·  Collections", id="title-bar")
        with Horizontal(id="collections-body"):
            with Vertical(id="collections-side"):
                yield Label("Collections", classes="section-title")
                yield CollectionList(id="collection-list")
            with Vertical(id="collection-main"):
                yield Static("Reading collections…", id="collection-header")
                yield ItemList(id="item-list")
        yield Static("", id="now-playing")
        yield PlayerBar(id="collection-player")
        yield Footer()

    def on_mount(self) -> None:
        """Start in the collections; the player bar waits for ``p``."""
        self.player_bar.loading = False
        self.player_bar.display = False  # shown once a collection is played
        self.collection_list.focus()
        self._show_now_playing()
        self.set_interval(TICK_SECONDS, self._tick)

    def on_screen_suspend(self) -> None:
        """A call opened over this screen may change collections (``c``): read them on return."""
        self._stale = not isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        """Read the collections when first shown, and again after another screen was on top."""
        if self._stale:
            self._stale = False
            self.load_collections()

    def on_unmount(self) -> None:
        """Stop the sound and free the device (off the event loop: closing may wait)."""
        self._closed = True
        _close_in_background(self.player)
        self.player = None
        if self._prepared is not None:
            _close_in_background(self._prepared.player)
            self._prepared = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The item keys ([ and ]) are offered only once a collection is loaded to play."""
        if action == "item":
            return self.player is not None
        return True

    # ------------------------------------------------------------------ reading

    def load_collections(self, select: str | None = None) -> None:
        """Read the collections again, keeping the highlighted one (or ``select``)."""
        current = self.current
        self._read(select or (current.id if current is not None else None), None)

    @work(thread=True, exclusive=True, group="collections-read", exit_on_error=False,
          description="Read the collections")
    def _read(self, select: str | None, item: str | None) -> None:
        """Read every collection and the items of the one to highlight."""
        self.post_message(self._snapshot(self.context.library, select, item, None))

    def _snapshot(self, library: Library, select: str | None, item: str | None,
                  notice: str | None) -> Shown:
        collections = curation.list_collections(library)
        ids = [c.id for c in collections]
        chosen = select if select in ids else (ids[0] if ids else None)
        listed = curation.items(library, chosen) if chosen is not None else []
        return self.Shown(collections, chosen, listed, item, notice)

    def on_collections_screen_shown(self, message: Shown) -> None:
        """Show the collections and the chosen one's items (and say what was done)."""
        self._items_of = message.select
        self.collection_list.show(message.collections, message.select)
        self.item_list.show(message.select, message.items, message.item)
        self._show_header()
        self.reads += 1
        playing = self.playing_collection
        if playing is not None and playing.id not in {c.id for c in message.collections}:
            # The collection being heard was deleted: so is its playback (and any on its way).
            self._play_seq += 1
            self._loading_audio = False
            self._close_player()
            self.playing_collection = None
            self.problem = None
            self.player_bar.display = False
            self._show_now_playing()
        if message.notice:
            self.notify(message.notice, timeout=3)
        self._prepare_highlighted()

    @on(OptionList.OptionHighlighted, "#collection-list")
    def _collection_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id is not None and event.option_id != self._items_of:
            self._items_of = event.option_id
            self._show_header()
            self.load_items(event.option_id)

    @work(thread=True, exclusive=True, group="collection-items", exit_on_error=False,
          description="Read the collection")
    def load_items(self, collection_id: str) -> None:
        """Read one collection's items in order."""
        self.post_message(self.ItemsLoaded(
            collection_id, curation.items(self.context.library, collection_id)))

    def on_collections_screen_items_loaded(self, message: ItemsLoaded) -> None:
        """Show the items, unless the cursor has moved to another collection meanwhile."""
        if message.collection_id == self._items_of:
            self.item_list.show(message.collection_id, message.items)
            self._show_header()
            self.reads += 1
            self._prepare_highlighted()

    def _show_header(self) -> None:
        header = self.query_one("#collection-header", Static)
        collection = self.current
        if collection is None:
            header.update(Text(
                "No collections yet. Press a to start one, or c on a talk track of a call "
                "(C opens this screen from anywhere).", style="dim"))
            return
        text = Text()
        text.append(collection.name, style="bold")
        count = collection.item_count
        text.append(f"  ·  {count} item{'s' if count != 1 else ''}", style="dim")
        text.append(f"  ·  {clock(collection.seconds)}", style="dim")
        if collection.curator:
            text.append(f"  ·  curated by {collection.curator}", style="dim")
        text.append("\n")
        if collection.description:
            text.append(collection.description, style="italic")
        else:
            text.append("No description (d writes one).", style="dim")
        if not count:
            text.append("\n\nEmpty: open a call and press c on a talk track to add it here.",
                        style="dim")
        header.update(text)

    # ------------------------------------------------------------------ changing

    def _edit(self, description: str, change: Callable[[Library], Outcome]) -> None:
        """Run ``change`` on the library in a thread worker, then show the lists as stored.

        ``change`` says what to highlight afterwards and what to tell the person;
        a ShadowboxError it raises reaches the app's one handler as a notification. Edits
        run one at a time, so quick repeated moves each see the previous one's result.
        """

        def run() -> None:
            library = self.context.library
            with self._edit_lock:
                outcome = change(library)
                shown = self._snapshot(library, outcome.select, outcome.item, outcome.notice)
            self.post_message(shown)
            self.app.post_message(LibraryChanged())

        self.run_worker(run, thread=True, group="collections-edit", description=description,
                        exit_on_error=False)

    def _need_collection(self, what: str) -> Collection | None:
        collection = self.current
        if collection is None:
            self.notify(f"No collection to {what}: press a to start one.", severity="warning")
        return collection

    def _need_item(self, what: str) -> tuple[Collection, CollectionItem] | None:
        collection = self.current
        item = self.item_list.current
        if collection is None or item is None or self.item_list.collection_id != collection.id:
            self.notify(f"No item to {what}.", severity="warning")
            return None
        return collection, item

    def action_new(self) -> None:
        """Start a new, empty collection (asks for its name)."""

        def named(name: str | None) -> None:
            if not name:
                return

            def change(library: Library) -> Outcome:
                made = curation.create_collection(library, name)
                return Outcome(made.id, notice=f"Created {made.name}")

            self._edit("Create the collection", change)

        self.app.push_screen(TextPrompt("New collection", placeholder="Price: the best answers"),
                             named)

    def action_rename(self) -> None:
        """Give the highlighted collection a new name."""
        collection = self._need_collection("rename")
        if collection is None:
            return

        def named(name: str | None) -> None:
            if not name or name == collection.name:
                return

            def change(library: Library) -> Outcome:
                renamed = curation.rename_collection(library, collection.id, name)
                return Outcome(renamed.id, notice=f"Renamed to {renamed.name}")

            self._edit("Rename the collection", change)

        self.app.push_screen(TextPrompt(f"Rename {collection.name}", collection.name), named)

    def action_describe(self) -> None:
        """Write what the highlighted collection teaches (empty clears it)."""
        collection = self._need_collection("describe")
        if collection is None:
            return

        def written(text: str | None) -> None:
            if text is None or text == (collection.description or ""):
                return

            def change(library: Library) -> Outcome:
                curation.describe_collection(library, collection.id, text)
                return Outcome(collection.id, notice="Description saved." if text
                               else "Description cleared.")

            self._edit("Describe the collection", change)

        self.app.push_screen(
            TextPrompt(f"What {collection.name} teaches", collection.description or "",
                       placeholder="The five best answers to 'it costs too much'"),
            written,
        )

    def action_delete(self) -> None:
        """Delete the highlighted collection, after asking (its calls and talk tracks stay)."""
        collection = self._need_collection("delete")
        if collection is None:
            return
        count = collection.item_count

        def answered(yes: bool | None) -> None:
            if not yes:
                return

            def change(library: Library) -> Outcome:
                gone = curation.delete_collection(library, collection.id)
                return Outcome(None, notice=f"Deleted {gone.name}")

            self._edit("Delete the collection", change)

        self.app.push_screen(ConfirmScreen(
            f"Delete the collection {collection.name!r} and its {count} "
            f"item{'s' if count != 1 else ''}? The calls and their talk tracks stay."),
            answered)

    def action_edit_note(self) -> None:
        """Write the curator's note on the highlighted item (empty clears it)."""
        chosen = self._need_item("annotate")
        if chosen is None:
            return
        collection, item = chosen

        def written(note: str | None) -> None:
            if note is None or note == (item.note or ""):
                return

            def change(library: Library) -> Outcome:
                curation.set_item_note(library, collection.id, item.id, note or None)
                return Outcome(collection.id, item.id,
                               "Note saved." if note else "Note cleared.")

            self._edit("Save the note", change)

        self.app.push_screen(
            TextPrompt(f"Note on item {item.position}: {item.title} "
                       f"{clock(item.start)}-{clock(item.end)}", item.note or "",
                       multiline=True),
            written,
        )

    def action_move_item(self, step: int) -> None:
        """Move the highlighted item up (-1) or down (+1) in the collection's order."""
        chosen = self._need_item("move")
        if chosen is None:
            return
        collection, item = chosen
        index = self.item_list.items.index(item)
        if not 0 <= index + step < len(self.item_list.items):
            self.notify("It is already first." if step < 0 else "It is already last.",
                        timeout=2)
            return

        def change(library: Library) -> Outcome:
            # Read the position as stored: a move still running before this one counts.
            stored = curation.find_item(library, curation.get_collection(library,
                                        collection.id), item.id)
            target = max(1, stored.position + step)
            curation.move_item(library, collection.id, item.id, target)
            return Outcome(collection.id, item.id)

        self._edit("Move the item", change)

    def action_remove_item(self) -> None:
        """Take the highlighted item out of the collection (the talk track itself stays)."""
        chosen = self._need_item("remove")
        if chosen is None:
            return
        collection, item = chosen
        index = self.item_list.items.index(item)
        after = self.item_list.items[index + 1] if index + 1 < len(self.item_list.items) \
            else (self.item_list.items[index - 1] if index else None)

        def change(library: Library) -> Outcome:
            gone = curation.remove_item(library, collection.id, item.id)
            return Outcome(collection.id, after.id if after else None,
                           f"Removed {gone.title} {clock(gone.start)}-{clock(gone.end)} "
                           f"from {collection.name}")

        self._edit("Remove the item", change)

    # ------------------------------------------------------------------ moving about

    @on(OptionList.OptionSelected, "#collection-list")
    def _collection_chosen(self, event: OptionList.OptionSelected) -> None:
        self.item_list.focus()

    def action_focus_pane(self, pane: str) -> None:
        """Move between the collections and the items."""
        if pane == "items":
            self.item_list.focus()
        else:
            self.collection_list.focus()

    @on(ItemList.Opened)
    def _open_item(self, message: ItemList.Opened) -> None:
        from .call import CallScreen

        item = message.item
        if self.player is not None:
            self.player.pause()
        self.app.push_screen(CallScreen(self.context, item.call_id, start_at=item.start,
                                        track_id=item.track_id, autoplay=True))

    def action_back(self) -> None:
        """Back to where the person was."""
        self.dismiss()

    # ------------------------------------------------------------------ playback

    def action_play(self) -> None:
        """Play the highlighted collection back to back (from the highlighted item when the
        items have the focus)."""
        collection = self._need_collection("play")
        if collection is None:
            return
        if collection.item_count == 0:
            self.notify(f"{collection.name} has no items yet: press c on a talk track of a "
                        "call to add one.", severity="warning")
            return
        start = self.item_list.current if self.item_list.has_focus else None
        self._close_player()
        self._play_seq += 1
        ready = self._prepared
        if (ready is not None and ready.collection.id == collection.id
                and ready.signature == _signature(self.item_list.items)):
            self._prepared = None
            self.on_collections_screen_playlist_ready(self.PlaylistReady(
                self._play_seq, ready.collection, ready.playlist, ready.player, ready.problem,
                start.id if start else None))
            return
        waiting = self._preparing == collection.id
        if waiting:
            self._play_when_prepared = (self._play_seq, start.id if start else None)
        self._loading_audio = True
        self.problem = None
        self.player_bar.problem = None
        self.player_bar.state = None
        self.player_bar.loading = True
        self.player_bar.display = True
        self.playing_collection = collection
        self._show_now_playing()
        if not waiting:
            self.open_playlist(self._play_seq, collection.id, start.id if start else None)

    @work(thread=True, exclusive=True, group="collection-audio", exit_on_error=False,
          description="Open the collection's audio")
    def open_playlist(self, seq: int, collection_id: str, start_item: str | None) -> None:
        """Decode and join the collection's items and open the output device.

        A missing device is not an error here: the screen says why it cannot play.
        """
        from shadowbox.playback import Player

        library = self.context.library
        collection = curation.get_collection(library, collection_id)
        joined = curation.playlist(library, collection.id)
        if not joined.entries:
            problem = f"none of the items of {collection.name} has any audio"
            self.post_message(self.PlaylistReady(seq, collection, joined, None, problem,
                                                 start_item))
            return
        try:
            player = Player(joined.samples, joined.sample_rate, ranges=joined.ranges,
                            device=self.context.output_device)
        except ShadowboxError as exc:
            self.post_message(self.PlaylistReady(seq, collection, joined, None, str(exc),
                                                 start_item))
            return
        # A sound server can take a second to run a new stream; playing before that is
        # heard as dropouts at the start.
        deadline = time.monotonic() + DEVICE_START_SECONDS
        while not player.device_running and time.monotonic() < deadline:
            time.sleep(0.02)
        self.post_message(self.PlaylistReady(seq, collection, joined, player, None, start_item))

    def _prepare_highlighted(self) -> None:
        """Get the highlighted collection's audio ready unless it is, or something plays."""
        collection = self.current
        wanted = _signature(self.item_list.items)
        ready = self._prepared
        if collection is None or self._closed or not wanted:
            return
        if ready is not None and ready.collection.id == collection.id \
                and ready.signature == wanted:
            return
        if self.player is not None and self.player.playing:
            return
        self._preparing = collection.id
        self.prepare_playlist(collection.id)

    @work(thread=True, exclusive=True, group="collection-prepare", exit_on_error=False,
          description="Get the collection's audio ready")
    def prepare_playlist(self, collection_id: str) -> None:
        """Decode and join the collection and open (and run) its output stream, silent."""
        from shadowbox.playback import Player

        library = self.context.library
        try:
            collection = curation.get_collection(library, collection_id)
            listed = curation.items(library, collection_id)
            joined = curation.playlist(library, collection_id)
        except ShadowboxError:
            # Only a head start: what went wrong is said if and when p is pressed.
            self.post_message(self.PrepareFailed(collection_id))
            return
        player: Player | None = None
        problem: str | None = None
        if not joined.entries:
            problem = f"none of the items of {collection.name} has any audio"
        else:
            try:
                player = Player(joined.samples, joined.sample_rate, ranges=joined.ranges,
                                device=self.context.output_device)
            except ShadowboxError as exc:
                problem = str(exc)
            else:
                deadline = time.monotonic() + DEVICE_START_SECONDS
                while not player.device_running and time.monotonic() < deadline:
                    time.sleep(0.02)
        self.post_message(self.PlaylistPrepared(collection, _signature(listed), joined,
                                                player, problem))

    def on_collections_screen_playlist_prepared(self, message: PlaylistPrepared) -> None:
        """Play it if ``p`` is waiting for it; keep it if it is still what ``p`` would play;
        else free it."""
        if self._preparing == message.collection.id:
            self._preparing = None
        pending, self._play_when_prepared = self._play_when_prepared, None
        if pending is not None and pending[0] == self._play_seq and not self._closed:
            seq, start_item = pending
            if message.signature == _signature(self.item_list.items):
                self.on_collections_screen_playlist_ready(self.PlaylistReady(
                    seq, message.collection, message.playlist, message.player,
                    message.problem, start_item))
                return
            _close_in_background(message.player)
            self.open_playlist(seq, message.collection.id, start_item)
            return
        current = self.current
        if (self._closed or current is None or current.id != message.collection.id
                or message.signature != _signature(self.item_list.items)):
            _close_in_background(message.player)
            return
        if self._prepared is not None:
            _close_in_background(self._prepared.player)
        self._prepared = message

    def on_collections_screen_prepare_failed(self, message: PrepareFailed) -> None:
        """Let a waiting ``p`` open the playlist itself, which reports what is wrong."""
        if self._preparing == message.collection_id:
            self._preparing = None
        pending, self._play_when_prepared = self._play_when_prepared, None
        if pending is not None and pending[0] == self._play_seq and not self._closed:
            self.open_playlist(pending[0], message.collection_id, pending[1])

    def on_collections_screen_playlist_ready(self, message: PlaylistReady) -> None:
        """Start playing (or say why it cannot); a superseded playlist is closed unheard."""
        if self._closed or message.seq != self._play_seq:
            _close_in_background(message.player)
            return
        self._loading_audio = False
        self.player = message.player
        self.playlist = message.playlist
        self.playing_collection = message.collection
        self.problem = message.problem
        self.player_bar.loading = False
        self.player_bar.problem = message.problem
        if message.player is None:
            self.notify(f"Cannot play: {message.problem}", severity="error", timeout=8)
            self._show_now_playing()
            return
        self.refresh_bindings()
        self.player_bar.markers = [e.offset for e in message.playlist.entries[1:]]
        start = 0.0
        for entry in message.playlist.entries:
            if entry.item.id == message.start_item:
                start = entry.offset
        self._pause_other_players()
        message.player.play(start)
        self._show_now_playing()

    def _pause_other_players(self) -> None:
        from .call import CallScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, CallScreen) and screen.player is not None:
                screen.player.pause()

    def _close_player(self) -> None:
        _close_in_background(self.player)
        self.player = None
        self.playlist = None
        self.item_list.mark_playing(None)
        self.refresh_bindings()

    def _entry_now(self) -> tuple[int, PlaylistEntry] | None:
        if self.player is None or self.playlist is None:
            return None
        entry = self.playlist.entry_at(self.player.position)
        if entry is None:
            return None
        return self.playlist.entries.index(entry), entry

    def _tick(self) -> None:
        if self.player is None:
            return
        state = self.player.state()
        if state == self.player_bar.state:
            return
        self.player_bar.state = state
        self._show_now_playing()

    def _show_now_playing(self) -> None:
        line = self.query_one("#now-playing", Static)
        collection = self.playing_collection
        playing_id = None
        if self._loading_audio and collection is not None:
            line.update(Text(f"Preparing {collection.name} for back-to-back playback…",
                             style="dim"))
        elif self.player is not None and self.playlist is not None and collection is not None:
            text = Text()
            text.append(collection.name, style="bold")
            now = self._entry_now()
            if self.player.state().ended or now is None:
                text.append("  ·  played to the end (p plays it again)", style="dim")
            else:
                index, entry = now
                item = entry.item
                playing_id = item.id
                text.append(f"  ·  item {index + 1} of {len(self.playlist.entries)}  ·  ",
                            style="dim")
                text.append(item.title, style="bold")
                text.append(f"  {clock(item.start)}-{clock(item.end)}", style="cyan")
            line.update(text)
        elif self.problem is None:
            line.update(Text("p plays the highlighted collection back to back  ·  "
                             "Enter on an item opens its call there", style="dim"))
        else:
            line.update("")
        current = self.current
        showing = collection is not None and current is not None and current.id == collection.id
        self.item_list.mark_playing(playing_id if showing else None)

    def _need_player(self, what: str) -> Player | None:
        if self.player is None:
            if self._loading_audio:
                self.notify(f"Cannot {what} yet: the audio is still being prepared.",
                            severity="warning", timeout=4)
            elif self.problem:
                self.notify(f"Cannot {what}: {self.problem}", severity="error", timeout=6)
            else:
                self.notify("Nothing is playing: p plays the highlighted collection.",
                            timeout=4)
        return self.player

    @on(PlayerBar.Seek)
    def _bar_seek(self, message: PlayerBar.Seek) -> None:
        if self.player is not None:
            self.player.seek(message.fraction * self.player.duration)

    def action_play_pause(self) -> None:
        """Pause or resume; with nothing loaded yet, play the highlighted collection."""
        if self.player is None and not self._loading_audio and self.problem is None:
            self.action_play()
            return
        player = self._need_player("play")
        if player is not None:
            if not player.playing:
                self._pause_other_players()
            player.toggle()

    def action_item(self, step: int) -> None:
        """Jump to the next item, or back to the start of this one (the one before, early on)."""
        player = self._need_player("change item")
        now = self._entry_now()
        if player is None or now is None or self.playlist is None:
            return
        index, entry = now
        position = player.position
        if step > 0:
            index += 1
        elif position < entry.offset or position - entry.offset < BACK_TO_START_SECONDS:
            index -= 1
        entries = self.playlist.entries
        if index >= len(entries):
            self.notify("That was the last item.", timeout=3)
            return
        player.play(entries[max(index, 0)].offset)
        self._show_now_playing()

    def action_speed(self, steps: int) -> None:
        """Slower or faster (0.75x to 2x; the pitch stays)."""
        player = self._need_player("change speed")
        if player is not None:
            speed = player.step_speed(steps)
            self.notify(f"Speed {speed:g}x", timeout=1.5)
