"""The collections screen and the call screen's ``c``, driven with Textual's pilot.

Every test works on a private copy of the demo library (the sample clips transcribed by the
real model) and checks what the library holds afterwards, not only what is on screen; the
snapshot uses the clips' scripts instead, so it does not change when decoding does.
Tests that do not play sound use an output device that does not exist, so they run without
a sound server; back-to-back playback goes through the PulseAudio null sink and its monitor.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console, RenderableType
from shadowbox_tui.app import ShadowboxApp
from shadowbox_tui.screens.call import CallScreen
from shadowbox_tui.screens.collection_dialogs import (
    AddToCollectionScreen,
    ConfirmScreen,
    TextPrompt,
)
from shadowbox_tui.screens.collections import CollectionsScreen
from shadowbox_tui.screens.help import binding_rows
from shadowbox_tui.widgets.collection_lists import item_prompt
from textual.pilot import Pilot
from textual.widgets import Input, Static, TextArea
from textual.widgets._footer import FooterKey

from shadowbox import collections as curation
from shadowbox.library import Library
from shadowbox.models import TalkTrack

from .test_playback import Monitor, require_audio
from .test_tui import SIZE, app_for, run, scripted_library, wait_until

NO_SPEAKER = "no such speaker anywhere"
ROI = "Budget is tight: the ROI case"
QUOTE = "Their quote is lower"
REORG = "Not the right time: mid reorganization"


def tracks_of(root: Path, title: str) -> list[TalkTrack]:
    """The talk tracks of the demo call called ``title``."""
    with Library.open(root) as library:
        return library.talk_tracks(library.get_call(title).id)


def make_collection(root: Path, name: str, tracks: list[TalkTrack],
                    notes: list[str | None] | None = None,
                    description: str | None = None) -> str:
    """A collection of ``tracks`` made through the core (the setup, not what is tested)."""
    with Library.open(root) as library:
        made = curation.create_collection(library, name, description=description)
        for track, note in zip(tracks, notes or [None] * len(tracks), strict=True):
            curation.add_track(library, made.id, track.id, note=note)
        return made.id


def stored(root: Path, ref: str) -> list[curation.CollectionItem]:
    """A collection's items as the library holds them now."""
    with Library.open(root) as library:
        return curation.items(library, ref)


def plain(renderable: RenderableType) -> str:
    """What a list entry reads as on a 100-column screen, without styles."""
    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


def messages(app: ShadowboxApp, severity: str | None = None) -> list[str]:
    """The notifications shown so far (of one severity, if given)."""
    return [n.message for n in app._notifications
            if severity is None or n.severity == severity]


async def open_collections(pilot: Pilot[None], app: ShadowboxApp) -> CollectionsScreen:
    """Press C (on whatever screen) and wait for the collections to be read."""
    await pilot.press("C")
    await wait_until(pilot, lambda: isinstance(app.screen, CollectionsScreen),
                     what="the collections screen")
    screen = app.screen
    assert isinstance(screen, CollectionsScreen)
    await wait_until(pilot, lambda: screen.reads > 0, what="the collections")
    return screen


async def changed(pilot: Pilot[None], screen: CollectionsScreen, *keys: str) -> None:
    """Press ``keys`` and wait until the lists were read again from the store."""
    before = screen.reads
    await pilot.press(*keys)
    await wait_until(pilot, lambda: screen.reads > before, what=f"the lists after {keys}")


async def open_call_at(pilot: Pilot[None], app: ShadowboxApp, track: TalkTrack) -> CallScreen:
    """Open the call of ``track`` with the cursor on it (as the collections screen does)."""
    await wait_until(pilot, lambda: app.library_screen.is_mounted)
    app.push_screen(CallScreen(app.context, track.call_id, start_at=track.start,
                               track_id=track.id))
    await wait_until(pilot, lambda: isinstance(app.screen, CallScreen)
                     and app.screen.call is not None, what="the call screen")
    call = app.screen
    assert isinstance(call, CallScreen)
    assert call.transcript.track_at_cursor() == track
    return call


async def add_with_c(pilot: Pilot[None], app: ShadowboxApp, *, pick: int = 0,
                     new_name: str | None = None, note: str = "") -> AddToCollectionScreen:
    """Press c on the call screen, pick the ``pick``-th choice, maybe name it, type a note."""
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(app.screen, AddToCollectionScreen))
    dialog = app.screen
    assert isinstance(dialog, AddToCollectionScreen)
    await wait_until(pilot, lambda: dialog.choices.highlighted_option is not None
                     and dialog.choices.highlighted_option.id is not None,
                     what="the collections in the dialog")
    for _ in range(pick):
        await pilot.press("down")
    await pilot.press("enter")
    if new_name is not None:
        assert app.focused is dialog.query_one("#add-name", Input)
        await pilot.press(*new_name, "enter")
    assert app.focused is dialog.query_one("#add-note", Input)
    await pilot.press(*note, "enter")
    return dialog


# ---------------------------------------------------------------------- creating


def test_a_collection_is_created_from_the_screen(demo_copy: Path) -> None:
    async def go() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            header = str(screen.query_one("#collection-header").render())
            assert "No collections yet" in header
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            await changed(pilot, screen, *"Price: the best answers", "enter")
            assert [c.name for c in screen.collection_list.collections] == [
                "Price: the best answers"]
            assert "Created Price: the best answers" in messages(app)
            # A second one; the cursor goes to it.
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            await changed(pilot, screen, *"Timing", "enter")
            assert screen.current is not None and screen.current.name == "Timing"
            # A taken name is refused with the core's reason, as a notification.
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            await pilot.press(*"timing", "enter")
            await wait_until(pilot, lambda: messages(app, "error"), what="the refusal")
            assert any("already exists" in m for m in messages(app, "error"))
            assert isinstance(app.screen, CollectionsScreen)
            # Escape in the prompt cancels; nothing is made.
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            await pilot.press(*"Nope", "escape")
            await pilot.pause(0.2)

        with Library.open(demo_copy) as library:
            names = [c.name for c in curation.list_collections(library)]
        assert names == ["Price: the best answers", "Timing"]

    run(go)


def test_rename_describe_and_delete_a_collection(demo_copy: Path) -> None:
    price = tracks_of(demo_copy, ROI)[:2]
    first = make_collection(demo_copy, "Price", price)
    make_collection(demo_copy, "Timing", tracks_of(demo_copy, REORG)[:1])

    async def go() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            assert screen.current is not None and screen.current.id == first
            assert [i.track_id for i in screen.item_list.items] == [t.id for t in price]
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            box = app.screen.query_one(Input)
            assert box.value == "Price"
            box.value = ""
            await changed(pilot, screen, *"Price: ROI first", "enter")
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            await changed(pilot, screen, *"Lead with the math", "enter")
            assert screen.current is not None
            assert (screen.current.name, screen.current.description) == (
                "Price: ROI first", "Lead with the math")
            assert "Lead with the math" in str(screen.query_one("#collection-header").render())
            # Renaming onto another collection's name is refused.
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            app.screen.query_one(Input).value = "Timing"
            await pilot.press("enter")
            await wait_until(pilot, lambda: messages(app, "error"), what="the refusal")
            # Delete asks first: n keeps it, y deletes it.
            await pilot.press("D")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, CollectionsScreen))
            assert len(screen.collection_list.collections) == 2
            await pilot.press("D")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "Price: ROI first" in str(app.screen.query_one(".dialog-title").render())
            await changed(pilot, screen, "y")
            assert [c.name for c in screen.collection_list.collections] == ["Timing"]

        with Library.open(demo_copy) as library:
            assert [c.name for c in curation.list_collections(library)] == ["Timing"]
            # The talk tracks themselves stay.
            assert library.talk_track(price[0].id).text == price[0].text

    run(go)


# ---------------------------------------------------------------------- c on a call


def test_c_on_a_call_adds_the_track_and_it_survives_a_restart(demo_copy: Path) -> None:
    roi = tracks_of(demo_copy, ROI)

    async def add() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            call = await open_call_at(pilot, app, roi[0])
            # No collection yet: "New collection…" is the only choice.
            await add_with_c(pilot, app, new_name="Price answers", note="Math first")
            await wait_until(pilot, lambda: "Added to Price answers" in messages(app),
                             what="the first add")
            # The cursor moves to the next talk track; c adds it to the same collection.
            while call.transcript.track_at_cursor() != roi[1]:
                await pilot.press("down")
            await add_with_c(pilot, app)
            await wait_until(pilot, lambda: messages(app).count("Added to Price answers") == 2,
                             what="the second add")
            # The same track again: the core refuses, and the screen says why.
            await add_with_c(pilot, app)
            await wait_until(pilot, lambda: messages(app, "error"), what="the refusal")
            assert any("already in collection 'Price answers'" in m
                       for m in messages(app, "error"))
            assert isinstance(app.screen, CallScreen)

    async def reopen() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            assert [c.name for c in screen.collection_list.collections] == ["Price answers"]
            listed = screen.item_list.items
            assert [(i.track_id, i.text, i.note) for i in listed] == [
                (roi[0].id, roi[0].text, "Math first"), (roi[1].id, roi[1].text, None)]
            shown = plain(screen.item_list.get_option_at_index(0).prompt)
            assert shown == plain(item_prompt(listed[0]))
            assert "Math first" in shown and roi[0].text[:40] in " ".join(shown.split())
            assert "2 items" in str(screen.query_one("#collection-header").render())

    run(add)
    run(reopen)
    assert [i.track_id for i in stored(demo_copy, "Price answers")] == [roi[0].id, roi[1].id]


def test_enter_on_an_item_opens_its_call_at_the_track_and_C_comes_back(
    demo_copy: Path,
) -> None:
    quote = tracks_of(demo_copy, QUOTE)
    roi = tracks_of(demo_copy, ROI)
    make_collection(demo_copy, "Price", [roi[0], quote[-1]])

    async def go() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            await pilot.press("right", "down", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, CallScreen)
                             and app.screen.call is not None, what="the call")
            call = app.screen
            assert isinstance(call, CallScreen)
            assert call.call is not None and call.call.title == QUOTE
            assert call.transcript.track_at_cursor() == quote[-1]
            # C goes back to the collections screen instead of stacking another one.
            await pilot.press("C")
            await wait_until(pilot, lambda: app.screen is screen)
            assert sum(isinstance(s, CollectionsScreen) for s in app.screen_stack) == 1
            await pilot.press("escape")
            assert app.screen is app.library_screen

    run(go)


# ---------------------------------------------------------------------- items


def test_items_are_reordered_removed_and_annotated(demo_copy: Path) -> None:
    roi = tracks_of(demo_copy, ROI)
    quote = tracks_of(demo_copy, QUOTE)
    ids = [roi[0].id, roi[1].id, quote[0].id]
    make_collection(demo_copy, "Price", [roi[0], roi[1], quote[0]],
                    notes=[None, "Smaller start", None])

    def order() -> list[int | None]:
        return [i.track_id for i in stored(demo_copy, "Price")]

    async def go() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            await pilot.press("right")
            assert app.focused is screen.item_list
            # Move the first item down twice: it ends last, and the cursor stays on it.
            await changed(pilot, screen, "shift+down")
            await changed(pilot, screen, "shift+down")
            assert order() == [ids[1], ids[2], ids[0]]
            assert screen.item_list.current is not None
            assert screen.item_list.current.track_id == ids[0]
            assert [i.position for i in screen.item_list.items] == [1, 2, 3]
            await pilot.press("shift+down")
            await wait_until(pilot, lambda: "It is already last." in messages(app))
            await changed(pilot, screen, "shift+up")
            assert order() == [ids[1], ids[0], ids[2]]
            # A note on the highlighted item.
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            app.screen.query_one(TextArea).insert("Numbers before feelings")
            await changed(pilot, screen, "ctrl+s")
            assert stored(demo_copy, "Price")[1].note == "Numbers before feelings"
            assert screen.item_list.items[1].note == "Numbers before feelings"
            assert "✎ Numbers before feelings" in plain(
                screen.item_list.get_option_at_index(1).prompt)
            # Clearing a note: empty text.
            await pilot.press("up", "n")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            app.screen.query_one(TextArea).text = ""
            await changed(pilot, screen, "ctrl+s")
            assert stored(demo_copy, "Price")[0].note is None
            # x takes the highlighted item out; the rest close up.
            await changed(pilot, screen, "x")
            assert order() == [ids[0], ids[2]]
            assert [i.position for i in screen.item_list.items] == [1, 2]
            assert any(m.startswith("Removed") for m in messages(app))
            assert screen.collection_list.current is not None
            assert screen.collection_list.current.item_count == 2

    run(go)


# ---------------------------------------------------------------------- playback


@pytest.mark.audio
def test_a_collection_plays_back_to_back(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_audio(monkeypatch)
    roi = tracks_of(demo_copy, ROI)
    quote = tracks_of(demo_copy, QUOTE)
    make_collection(demo_copy, "Price", [roi[0], quote[0]])

    async def go() -> None:
        app = app_for(demo_copy)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            items = screen.item_list.items
            with Monitor() as monitor:
                await pilot.pause(0.3)
                pressed = time.perf_counter()
                await pilot.press("p")
                await wait_until(pilot, lambda: monitor.first_sound_after(pressed) is not None,
                                 timeout=20, what="sound at the sink")
                await pilot.pause(0.5)
                heard = monitor.audio_since(pressed)
            assert float(np.sqrt(np.mean(heard**2))) > 0.005
            player = screen.player
            assert player is not None and player.playing
            assert screen.playlist is not None
            assert [e.item.id for e in screen.playlist.entries] == [i.id for i in items]
            # The first item is marked and named as playing.
            await wait_until(pilot, lambda: screen.item_list.playing == items[0].id)
            now = str(screen.query_one("#now-playing").render())
            assert "item 1 of 2" in now and ROI in now
            # ] jumps to the next item's start.
            await pilot.press("right_square_bracket")
            second = screen.playlist.entries[1]
            assert player.position >= second.offset - 0.05
            await wait_until(pilot, lambda: screen.item_list.playing == items[1].id)
            assert "item 2 of 2" in str(screen.query_one("#now-playing").render())
            # [ goes back to the start of this item, and early in an item to the one before
            # (twice, then, whatever time the checks above took).
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert player.position < second.offset
            await wait_until(pilot, lambda: screen.item_list.playing == items[0].id)
            # space pauses and resumes; + and - change the speed like the call screen.
            await pilot.press("space")
            assert not player.playing
            await pilot.press("space")
            assert player.playing
            await pilot.press("plus")
            assert player.speed == 1.25
            await wait_until(pilot, lambda: "speed 1.25x" in str(screen.player_bar.render()))
            await pilot.press("escape")
        # Leaving the screen stops the sound.
        assert not player.playing

    run(go)


def test_without_an_audio_device_the_collection_says_why_and_browsing_works(
    demo_copy: Path,
) -> None:
    roi = tracks_of(demo_copy, ROI)
    make_collection(demo_copy, "Price", roi[:2])

    async def go() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_collections(pilot, app)
            await pilot.press("p")
            await wait_until(pilot, lambda: screen.problem is not None, what="the device error")
            assert "No audio output" in (screen.problem or "")
            bar = str(screen.player_bar.render())
            assert "Cannot play" in bar and NO_SPEAKER in bar
            assert any(m.startswith("Cannot play") for m in messages(app, "error"))
            assert screen.player is None
            count = len(messages(app))
            await pilot.press("space")
            await wait_until(pilot, lambda: len(messages(app)) > count)
            assert messages(app)[-1].startswith("Cannot play")
            # Browsing and curating still work.
            await pilot.press("right", "n")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
            app.screen.query_one(TextArea).insert("Still works")
            await changed(pilot, screen, "ctrl+s")
            assert stored(demo_copy, "Price")[0].note == "Still works"

    run(go)


# ---------------------------------------------------------------------- finding your way


def test_help_footer_and_palette_list_the_collection_keys(demo_copy: Path) -> None:
    roi = tracks_of(demo_copy, ROI)
    make_collection(demo_copy, "Price", roi[:1])

    async def go() -> None:
        app = app_for(demo_copy, output_device=NO_SPEAKER)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.library_screen.is_mounted)
            library = app.library_screen
            assert "Collections" in {c.title for c in app.get_system_commands(library)}
            await wait_until(pilot, lambda: "C" in {k.key for k in library.query(FooterKey)},
                             what="C in the library's footer")
            call = await open_call_at(pilot, app, roi[0])
            assert ("c", "Collect", "this screen") in binding_rows(call)
            # c is spelled out in the side panel under the talk track (the footer must fit
            # 120 columns), C in the footer.
            await wait_until(pilot, lambda: "C" in {k.key for k in call.query(FooterKey)},
                             what="C in the call screen's footer")
            details = str(call.query_one("#details", Static).render())
            assert "c add to a collection" in details
            assert "Collect" in {c.title for c in app.get_system_commands(call)}
            screen = await open_collections(pilot, app)
            rows = {(key, does) for key, does, _ in binding_rows(screen)}
            assert {("a", "New collection"), ("e", "Rename the collection"),
                    ("d", "Describe the collection"),
                    ("D", "Delete the collection (asks first)"),
                    ("p", "Play the collection back to back"),
                    ("space", "Pause or resume the collection"), ("[", "Previous item"),
                    ("]", "Next item"), ("n", "Edit the curator's note"),
                    ("shift+↑", "Move up"), ("shift+↓", "Move down"),
                    ("x del", "Remove the item from the collection"),
                    ("C", "Collections")} <= rows
            # The footer shows the keys of the list in use (both do not fit at once).
            footer = {k.key for k in screen.query(FooterKey)}
            assert {"a", "e", "d", "D", "p", "space", "escape"} <= footer
            assert "C" not in footer  # already here
            titles = {c.title for c in app.get_system_commands(screen)}
            assert {"New collection", "Delete the collection (asks first)",
                    "Play the collection back to back"} <= titles
            await pilot.press("right")
            await pilot.pause(0.2)
            footer = {k.key for k in screen.query(FooterKey)}
            assert {"enter", "n", "shift+up", "shift+down", "x", "p"} <= footer
            rows = {(key, does) for key, does, _ in binding_rows(screen)}
            assert ("⏎", "Open the call at this item") in rows
            titles = {c.title for c in app.get_system_commands(screen)}
            assert {"Play the collection back to back", "Edit the curator's note",
                    "Remove the item from the collection"} <= titles

    run(go)


# ---------------------------------------------------------------------- what a person sees


def test_snapshot_collections_screen(lib_path: Path, snap_compare) -> None:
    scripted_library(lib_path, [ROI, QUOTE, REORG])
    roi, quote = tracks_of(lib_path, ROI), tracks_of(lib_path, QUOTE)
    make_collection(lib_path, "Price: the best answers", [roi[0], quote[0], roi[1]],
                    notes=["Lead with the math", None, "A smaller start lowers the stakes"],
                    description="How our best reps answer 'it costs too much'")
    make_collection(lib_path, "Timing", tracks_of(lib_path, REORG)[:1])

    async def settle(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, ShadowboxApp)
        await wait_until(pilot, lambda: app.library_screen.is_mounted)
        screen = await open_collections(pilot, app)
        await pilot.press("right")
        await wait_until(pilot, lambda: app.focused is screen.item_list)

    assert snap_compare(app_for(lib_path, output_device=NO_SPEAKER), terminal_size=SIZE,
                        run_before=settle)
