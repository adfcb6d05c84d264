"""The ``collection`` command group and ``forget``: thin click commands over curation and erasure.

Registered on the main group in cli.py. Each command parses, calls one function of
``collections``, ``bundle`` or ``erase``, and prints; ``--json`` prints JSON only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import NotFoundError, ShadowboxError
from .export import short_clock

if TYPE_CHECKING:
    from .cli import State
    from .collections import Collection, CollectionItem


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def parse_time(text: str) -> float:
    """Seconds from ``75``, ``75.5``, ``1:15`` or ``1:02:03``."""
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time (use seconds or M:SS)") from None
    if not parts or len(parts) > 3 or any(p < 0 for p in parts):
        raise click.BadParameter(f"{text!r} is not a time (use seconds or M:SS)")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


class _Time(click.ParamType):
    """A time in a call: seconds, ``M:SS`` or ``H:MM:SS``."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds from a number or an ``M:SS`` text."""
        if isinstance(value, float | int):
            return float(value)
        return parse_time(str(value))


TIME = _Time()


def _item_block(item: CollectionItem) -> str:
    tags = f"  [{', '.join(item.objections)}]" if item.objections else ""
    track = f"  #{item.track_id}" if item.track_id is not None else "  (range)"
    head = (
        f"{item.position:>2}. {item.title}  {short_clock(item.start)}-{short_clock(item.end)}"
        f"{tags}{track}  item {item.id[:8]}"
    )
    lines = [head, f"    {item.text or '(no transcript yet)'}"]
    if item.note:
        lines.append(f"    Note: {item.note}")
    return "\n".join(lines)


def _collection_line(c: Collection) -> str:
    return (
        f"{c.name:<40}  {c.item_count:>3} items  {short_clock(c.seconds):>7}  "
        f"{c.curator or '-'}"
    )


@click.group()
def collection() -> None:
    """Curate best-of collections of talk tracks, and share them as bundles.

    A collection is an ordered list of talk tracks (or time ranges of calls), each with a
    curator's note. Refer to a collection by its name (any case) or id.
    """


@collection.command("create")
@click.argument("name")
@click.option("--description", "-d", help="What the collection teaches.")
@click.option("--curator", help="Who curates it (default: the `rep` setting).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def create_cmd(
    state: State, name: str, description: str | None, curator: str | None, as_json: bool
) -> None:
    """Create an empty collection called NAME."""
    from .collections import create_collection

    made = create_collection(
        state.library, name, description=description, curator=curator or state.settings.rep
    )
    if as_json:
        _echo_json(made.to_json())
        return
    click.echo(f"Created collection {made.name!r} ({made.id[:8]})", err=True)


@collection.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def list_cmd(state: State, as_json: bool) -> None:
    """List the collections with their item counts and lengths."""
    from .collections import list_collections

    found = list_collections(state.library)
    if as_json:
        _echo_json([c.to_json() for c in found])
        return
    if not found:
        click.echo("No collections yet. Start one with `shadowbox collection create NAME`.")
        return
    for c in found:
        click.echo(_collection_line(c))


@collection.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def show_cmd(state: State, name: str, as_json: bool) -> None:
    """Show a collection's items in order: text, times, objections and notes."""
    from .collections import get_collection, items

    found = get_collection(state.library, name)
    listed = items(state.library, found.id)
    if as_json:
        data = found.to_json()
        data["items"] = [i.to_json() for i in listed]
        _echo_json(data)
        return
    click.echo(_collection_line(found))
    if found.description:
        click.echo(f"  {found.description}")
    for item in listed:
        click.echo("")
        click.echo(_item_block(item))


@collection.command("add")
@click.argument("name")
@click.argument("track", required=False)
@click.option("--call", "call_ref", help="Add a time range of this call instead of a talk track.")
@click.option("--start", type=TIME, help="Start of the range (seconds or M:SS).")
@click.option("--end", type=TIME, help="End of the range (seconds or M:SS).")
@click.option("--note", "-n", help="The curator's note: why this answer is worth hearing.")
@click.option("--position", type=click.IntRange(min=1), help="Insert here (default: last).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def add_cmd(
    state: State,
    name: str,
    track: str | None,
    call_ref: str | None,
    start: float | None,
    end: float | None,
    note: str | None,
    position: int | None,
    as_json: bool,
) -> None:
    """Add talk track TRACK (its number from `shadowbox show`, or its UUID) to collection NAME.

    Or add a time range of a call: --call CALL --start S --end E.
    """
    from .collections import add_range, add_track

    lib = state.library
    if call_ref is not None:
        if track is not None:
            raise ShadowboxError("Collection add: give a TRACK or --call with a range, not both")
        if start is None or end is None:
            raise ShadowboxError("Collection add: --call needs --start and --end")
        item = add_range(lib, name, call_ref, start, end, note=note, position=position)
    else:
        if track is None:
            raise ShadowboxError(
                "Collection add: give a TRACK number (see `shadowbox show CALL`) or --call"
            )
        if start is not None or end is not None:
            raise ShadowboxError("Collection add: --start and --end go with --call")
        item = add_track(lib, name, track, note=note, position=position)
    if as_json:
        _echo_json(item.to_json())
        return
    click.echo(f"Added as item {item.position} ({item.id[:8]}): {item.title}", err=True)


@collection.command("remove")
@click.argument("name")
@click.argument("item")
@click.pass_obj
def remove_cmd(state: State, name: str, item: str) -> None:
    """Take ITEM (its position or id) out of collection NAME; the talk track stays."""
    from .collections import remove_item

    gone = remove_item(state.library, name, item)
    click.echo(f"Removed item {gone.position} ({gone.id[:8]}): {gone.title}", err=True)


@collection.command("move")
@click.argument("name")
@click.argument("item")
@click.argument("position", type=click.IntRange(min=1))
@click.pass_obj
def move_cmd(state: State, name: str, item: str, position: int) -> None:
    """Move ITEM (its position or id) of collection NAME to POSITION (1 is first)."""
    from .collections import move_item

    for i in move_item(state.library, name, item, position):
        click.echo(f"{i.position:>2}. {i.title}  {short_clock(i.start)}-{short_clock(i.end)}")


@collection.command("describe")
@click.argument("name")
@click.argument("text")
@click.pass_obj
def describe_cmd(state: State, name: str, text: str) -> None:
    """Set what collection NAME teaches (an empty TEXT clears it)."""
    from .collections import describe_collection

    done = describe_collection(state.library, name, text)
    click.echo(f"Described collection {done.name!r}", err=True)


@collection.command("note")
@click.argument("name")
@click.argument("item")
@click.argument("text")
@click.pass_obj
def note_cmd(state: State, name: str, item: str, text: str) -> None:
    """Set the curator's note of ITEM (position or id) in collection NAME ("" clears it)."""
    from .collections import set_item_note

    done = set_item_note(state.library, name, item, text)
    click.echo(f"Noted item {done.position} ({done.id[:8]})", err=True)


@collection.command("rename")
@click.argument("name")
@click.argument("new_name")
@click.pass_obj
def rename_cmd(state: State, name: str, new_name: str) -> None:
    """Rename collection NAME to NEW_NAME (its id, and so bundles' merging, stays)."""
    from .collections import rename_collection

    done = rename_collection(state.library, name, new_name)
    click.echo(f"Renamed to {done.name!r}", err=True)


@collection.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete_cmd(state: State, name: str, yes: bool) -> None:
    """Delete collection NAME and its items (the calls and talk tracks stay)."""
    from .collections import delete_collection, get_collection

    found = get_collection(state.library, name)
    _confirm(yes, f"Delete collection {found.name!r} ({found.item_count} items)?")
    delete_collection(state.library, found.id)
    click.echo(f"Deleted collection {found.name!r}", err=True)


@collection.command("export")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["zip", "md"]),
    help="zip: a bundle to import elsewhere; md: a Markdown study guide"
    " (default: from FILE's extension, else zip).",
)
@click.option(
    "--no-redact", is_flag=True,
    help="Keep emails, phone numbers and long digit runs (redacted and muted by default).",
)
@click.pass_obj
def export_cmd(state: State, name: str, file: Path, fmt: str | None, no_redact: bool) -> None:
    """Export collection NAME to FILE: a bundle (zip) or a Markdown study guide.

    A bundle holds each item's audio cut to its range (Ogg Opus), transcripts with word
    timings, tags, notes and where it came from. Personal data is redacted unless
    --no-redact is given.
    """
    fmt = fmt or ("md" if file.suffix.lower() in (".md", ".markdown") else "zip")
    lib = state.library
    if fmt == "md":
        from .collections import study_guide
        from .library import create_private_file

        text = study_guide(lib, name, redact=not no_redact)
        part = file.with_name(f".{file.name}.part")
        part.unlink(missing_ok=True)
        try:
            with os.fdopen(create_private_file(part), "w", encoding="utf-8") as fh:
                fh.write(text)
            part.replace(file)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise ShadowboxError(f"Export to {file}: cannot write it ({exc.strerror})") from None
        click.echo(f"Wrote study guide {file}", err=True)
        return
    from .bundle import export_bundle

    report = export_bundle(lib, name, file, redact=not no_redact)
    redactions = ", ".join(f"{n} {k}" for k, n in sorted(report.redactions.items()))
    redacted = f"redacted: {redactions or 'nothing found'}" if report.redacted else "not redacted"
    click.echo(
        f"Wrote bundle {file}: {report.items} items, {short_clock(report.audio_seconds)} of "
        f"audio, {report.bytes / 1024:.0f} KiB ({redacted})",
        err=True,
    )


@collection.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def import_cmd(state: State, file: Path, as_json: bool) -> None:
    """Import a bundle, merging it by id (importing the same bundle twice adds nothing).

    Talk tracks from calls this library lacks arrive as calls of their own, with their audio
    and transcript, and can be searched and played like any other.
    """
    from .bundle import import_bundle

    report = import_bundle(state.library, file)
    if as_json:
        _echo_json({
            "collection": report.collection.to_json(),
            "created_collection": report.created_collection,
            "added_items": report.added_items,
            "skipped_items": report.skipped_items,
            "new_calls": report.new_calls,
            "forgotten_items": report.forgotten_items,
            "renamed_from": report.renamed_from,
        })
        return
    name = report.collection.name
    if report.renamed_from:
        click.echo(f"A collection called {report.renamed_from!r} exists here; "
                   f"imported as {name!r}", err=True)
    click.echo(
        f"Imported {file.name} into {name!r}: {report.added_items} items added, "
        f"{report.new_calls} new calls, {report.skipped_items} already here"
        + (f", {report.forgotten_items} of erased calls left out" if report.forgotten_items
           else ""),
        err=True,
    )


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ShadowboxError(
            f"{question.split('?')[0]}: not confirmed (no terminal to ask on); pass --yes"
        )
    if not click.confirm(question, default=False, err=True):
        raise ShadowboxError("Cancelled; nothing was changed")


@click.command()
@click.argument("call_ref", metavar="CALL")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def forget(state: State, call_ref: str, yes: bool) -> None:
    """Erase CALL for good (consent withdrawn): audio, transcript, tags, collection items,
    index entries, and every trace of its words in the database files.

    Asks for confirmation on a terminal; elsewhere it needs --yes.
    """
    from .erase import forget_call

    lib = state.library
    try:
        call = lib.get_call(call_ref)
    except NotFoundError:
        if not lib.forgotten_like(call_ref):
            raise
    else:
        _confirm(
            yes,
            f"Erase call {call.id[:8]} {call.title!r} and everything about it? "
            "This cannot be undone.",
        )
    report = forget_call(lib, call_ref)
    what = f"{report.call_id[:8]} {report.title!r}" if report.title else report.call_id[:8]
    if report.already_forgotten:
        click.echo(f"Call {what} was already forgotten; scrubbed the library again", err=True)
    else:
        rows = sum(report.rows.values())
        click.echo(
            f"Forgot call {what}: {len(report.files_removed)} audio files and {rows} rows "
            f"erased in {report.seconds:.1f} s",
            err=True,
        )
    if not report.scrubbed:
        raise ShadowboxError(
            f"Call {report.call_id[:8]}: its rows are gone, but another program holds the "
            "library open, so old pages may linger in library.db-wal; close it and run "
            f"`shadowbox forget {report.call_id}` again"
        )
