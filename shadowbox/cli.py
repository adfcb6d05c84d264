"""The ``shadowbox`` command line: thin click commands over the library.

Each command parses its options, calls one library function and prints. User mistakes
become one line on stderr and a non-zero exit; ``--json`` prints JSON and nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from . import __version__
from .audio import CHANNELS
from .config import CONSENT_METHODS, Settings, load_settings, taxonomy_files
from .errors import ShadowboxError
from .export import FORMATS, render, short_clock
from .library import Library
from .models import Call, Hit, TalkTrack

F = TypeVar("F", bound=Callable[..., Any])


class UserError(click.ClickException):
    """A ShadowboxError on its way out: one line on stderr, exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``shadowbox: <message>`` without a traceback."""
        click.echo(f"shadowbox: {self.message}", err=True)


class ShadowboxGroup(click.Group):
    """The command group; turns ShadowboxErrors from any command into clean errors."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating user errors into one-line messages."""
        try:
            return super().invoke(ctx)
        except ShadowboxError as exc:
            raise UserError(str(exc)) from None


class State:
    """What every command needs: settings, and the library opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._library: Library | None = None

    @property
    def library(self) -> Library:
        """The library named by --library, SHADOWBOX_LIBRARY or the platform default."""
        if self._library is None:
            from .recording import recover_interrupted

            self._library = Library.open(self.settings.library)
            for call in recover_interrupted(self._library, on_problem=_warn):
                click.echo(
                    f"Recovered an interrupted recording as {call.id[:8]} {call.title!r} "
                    "(queued for transcription)",
                    err=True,
                )
        return self._library

    def close(self) -> None:
        """Close the library if it was opened."""
        if self._library is not None:
            self._library.close()


pass_state = click.make_pass_decorator(State)


def _warn(path: Path, reason: str) -> None:
    click.echo(f"shadowbox: warning: interrupted recording {path} left as it is: {reason}",
               err=True)


def json_option(fn: F) -> F:
    """The ``--json`` flag every listing command takes."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only.")(fn)


def echo_json(data: Any) -> None:
    """Print JSON on stdout (and nothing else)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group(cls=ShadowboxGroup, invoke_without_command=True)
@click.option(
    "--library",
    type=click.Path(file_okay=False, path_type=Path),
    help="Library folder (default: SHADOWBOX_LIBRARY or the platform's user data folder).",
)
@click.version_option(__version__, prog_name="shadowbox")
@click.pass_context
def cli(ctx: click.Context, library: Path | None) -> None:
    """Shadowbox: learn from senior reps' real calls.

    Record or import consented calls, transcribe them offline, find talk tracks by objection
    or words, and replay them. Run without a command to open the terminal app.
    """
    try:
        settings = load_settings().with_overrides(library=library)
    except ShadowboxError as exc:
        raise UserError(str(exc)) from None
    state = State(settings)
    ctx.obj = state
    ctx.call_on_close(state.close)
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui)


# ---------------------------------------------------------------------- import / transcribe


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--title", help="Title (default: the file name without its extension).")
@click.option("--rep", help="The rep whose side of the call this is.")
@click.option(
    "--consent",
    type=click.Choice(CONSENT_METHODS, case_sensitive=False),
    help="How the other party consented (default: the `consent` setting).",
)
@click.option(
    "--channel",
    type=click.Choice(CHANNELS),
    default="mix",
    show_default=True,
    help="For stereo files: the rep's channel, or a mix of both.",
)
@click.option("--no-transcribe", is_flag=True, help="Only queue the calls; transcribe later.")
@click.option("--model", help="Speech model: embedded, a size name, or a CTranslate2 folder.")
@pass_state
def import_cmd(
    state: State,
    files: tuple[Path, ...],
    title: str | None,
    rep: str | None,
    consent: str | None,
    channel: str,
    no_transcribe: bool,
    model: str | None,
) -> None:
    """Copy recordings into the library, record their consent, and transcribe them.

    Accepts WAV, FLAC, MP3, M4A/AAC and Ogg Vorbis/Opus at any sample rate and channel
    count. Every file is checked before anything is written: one unreadable file refuses
    the whole batch. The same audio imported twice is not duplicated.
    """
    from .ingest import import_files

    results = import_files(
        state.library, list(files), state.settings, consent=consent, title=title, rep=rep,
        channel=channel,
    )
    for r in results:
        verb = "already in the library as" if r.duplicate else "imported as"
        click.echo(f"{r.path}: {verb} {r.call.id[:8]} {r.call.title!r}", err=True)
    if not no_transcribe:
        fresh = [r.call.id for r in results if not r.duplicate]
        _run_worker(state, model=model, call_ids=fresh)


@cli.command()
@click.option("--once", is_flag=True, help="Exit when the queue is empty instead of waiting.")
@click.option("--model", help="Speech model: embedded, a size name, or a CTranslate2 folder.")
@pass_state
def transcribe(state: State, once: bool, model: str | None) -> None:
    """Run the transcription worker over the queue (the model is loaded once).

    Several workers may run at once: each job is leased, and a job whose worker died is
    taken up again when its lease runs out.
    """
    _run_worker(state, model=model, once=once)


def _run_worker(
    state: State, *, model: str | None, once: bool = True, call_ids: Sequence[str] = ()
) -> None:
    from .worker import Worker

    bar = ProgressLine(sys.stderr)
    worker = Worker(state.library, state.settings, model=model, on_progress=bar.update)
    if once and not state.library.queued_jobs():
        if not call_ids:
            click.echo("Nothing to transcribe: the queue is empty.", err=True)
        return
    try:
        report = worker.run(once=once, call_ids=call_ids)
    except KeyboardInterrupt:
        bar.clear()
        raise UserError("Transcription interrupted; the job goes back to the queue") from None
    bar.clear()
    for call in report.done:
        click.echo(f"Transcribed {call.id[:8]} {call.title!r}", err=True)
    for call, reason in report.failed:
        click.echo(f"shadowbox: transcription of {call.title!r} failed: {reason}", err=True)
    if report.failed:
        sys.exit(1)


class ProgressLine:
    """A one-line progress bar with ETA on a terminal; silent when stderr is not one."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.active = stream.isatty()
        self.shown = False

    def update(self, progress: Any) -> None:
        """Redraw the line for a worker Progress."""
        if not self.active:
            return
        width = 24
        filled = int(progress.fraction * width)
        eta = progress.eta
        eta_text = f"ETA {short_clock(eta)}" if eta is not None else "ETA --:--"
        title = progress.call.title[:30]
        line = (
            f"\r{title:<30} [{'#' * filled}{'.' * (width - filled)}] "
            f"{progress.fraction * 100:5.1f}% {eta_text}"
        )
        self.stream.write(line)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line before ordinary output follows."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


# ---------------------------------------------------------------------- reading


@cli.command()
@json_option
@pass_state
def calls(state: State, as_json: bool) -> None:
    """List the calls in the library, newest first."""
    rows = state.library.list_calls()
    if as_json:
        echo_json([c.to_json() for c in rows])
        return
    if not rows:
        click.echo("No calls yet. Import one with `shadowbox import FILE --consent verbal`.")
        return
    for c in rows:
        click.echo(_call_line(c))


def _call_line(c: Call) -> str:
    status = c.status
    if status == "transcribing" and c.progress is not None:
        status = f"transcribing {c.progress * 100:.0f}%"
    if c.recovered:
        status += " (recovered)"
    dur = short_clock(c.duration or 0)
    return f"{c.id[:8]}  {c.title[:40]:<40}  {(c.rep or '-')[:12]:<12}  {dur:>7}  {status}"


@cli.command()
@click.argument("call_ref", metavar="CALL")
@json_option
@pass_state
def show(state: State, call_ref: str, as_json: bool) -> None:
    """Show one call (by id, id prefix or title) with its talk tracks and objections."""
    lib = state.library
    call = lib.get_call(call_ref)
    tracks = lib.talk_tracks(call.id)
    if as_json:
        data = call.to_json()
        data["consent"] = lib.consent(call.id).method
        data["markers"] = [{"at": m.at, "label": m.label} for m in lib.markers(call.id)]
        data["talk_tracks"] = [t.to_json() for t in tracks]
        echo_json(data)
        return
    click.echo(_call_line(call))
    if call.last_error and call.status == "failed":
        click.echo(f"  failed: {call.last_error}")
    for m in lib.markers(call.id):
        click.echo(f"  bookmark at {short_clock(m.at)} {m.label or ''}".rstrip())
    for t in tracks:
        click.echo("")
        click.echo(_track_block(t))


def _track_block(t: TalkTrack) -> str:
    tags = ", ".join(t.objections) if t.objections else "no objection"
    head = f"#{t.id}  {short_clock(t.start)}-{short_clock(t.end)}  [{tags}]"
    return f"{head}\n  {t.text}"


@cli.command("search")
@click.argument("query", nargs=-1)
@click.option("--objection", "objections", multiple=True, help="Only this objection id.")
@click.option("--rep", "reps", multiple=True, help="Only calls by this rep.")
@click.option("--tag", "tags", multiple=True, help="Only talk tracks with this tag.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@pass_state
def search_cmd(
    state: State,
    query: tuple[str, ...],
    objections: tuple[str, ...],
    reps: tuple[str, ...],
    tags: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """Search talk tracks by words and filters; best matches first.

    Words are ANDed, "quoted phrases" kept, -word excludes, word* is a prefix. Inline
    filters work too: objection:price rep:dana tag:gold.
    """
    from .objections import load_taxonomy
    from .search import search

    text = " ".join(query)
    if not text.strip() and not (objections or reps or tags):
        raise UserError("Search: give words to search for or a filter (--objection, --rep, --tag)")
    taxonomy = load_taxonomy(taxonomy_files(state.settings))
    hits = search(
        state.library, taxonomy, text, objections=objections, reps=reps, tags=tags, limit=limit
    )
    if as_json:
        echo_json([h.to_json() for h in hits])
        return
    if not hits:
        click.echo("No matches.", err=True)
        return
    for h in hits:
        click.echo(_hit_line(h))


def _hit_line(h: Hit) -> str:
    tags = f" [{', '.join(h.objections)}]" if h.objections else ""
    where = f"{h.call_id[:8]} {short_clock(h.start)}"
    return f"{where}  {h.title}{tags}\n    {h.snippet}"


@cli.command()
@json_option
@pass_state
def objections(state: State, as_json: bool) -> None:
    """Show the objection taxonomy in force (packaged, user and library files merged)."""
    from .objections import load_taxonomy

    taxonomy = load_taxonomy(taxonomy_files(state.settings))
    if as_json:
        echo_json(
            [{"id": o.id, "label": o.label, "description": o.description}
             for o in taxonomy.objections]
        )
        return
    for o in taxonomy.objections:
        click.echo(f"{o.id:<12} {o.label}")
    click.echo("from: " + ", ".join(str(p) for p in taxonomy.sources), err=True)


@cli.command("export")
@click.argument("call_ref", metavar="CALL")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@pass_state
def export_cmd(state: State, call_ref: str, fmt: str, output: Path | None) -> None:
    """Export one call's transcript as Markdown, SRT, WebVTT or JSON."""
    lib = state.library
    call = lib.get_call(call_ref)
    text = render(
        fmt, call, lib.talk_tracks(call.id), lib.segments(call.id), lib.consent(call.id),
        lib.markers(call.id),
    )
    if output is None:
        click.echo(text, nl=False)
        return
    tmp = output.with_name(output.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    click.echo(f"Wrote {output}", err=True)


# ---------------------------------------------------------------------- demo and app


@cli.command()
@click.option("--no-tui", is_flag=True, help="Print the talk tracks instead of opening the app.")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of sample recordings (default: the project's sample_audio/).")
@click.pass_context
def demo(ctx: click.Context, no_tui: bool, samples: Path | None) -> None:
    """Build a demo library from sample_audio (import, transcribe) and open it.

    Unless --library or SHADOWBOX_LIBRARY names one, the demo gets a library of its own
    (beside the default one) so your real calls and the samples never mix.
    """
    from .demo import build_demo, demo_library_path

    state: State = ctx.obj
    if state.settings.library == Settings().library:
        state.close()
        state = State(state.settings.with_overrides(library=demo_library_path()))
        ctx.obj = state
        ctx.call_on_close(state.close)
    bar = ProgressLine(sys.stderr)
    summary = build_demo(state.library, state.settings, samples, on_progress=bar.update)
    bar.clear()
    click.echo(
        f"Demo library {state.library.root}: {summary.imported} imported, "
        f"{summary.transcribed} transcribed, {len(summary.calls)} calls in all.",
        err=True,
    )
    if not no_tui and sys.stdin.isatty() and sys.stdout.isatty() and _tui_available():
        ctx.invoke(tui)
        return
    for call in summary.calls:
        click.echo(f"\n== {call.title} ({call.rep or '-'}, {short_clock(call.duration or 0)})")
        for t in state.library.talk_tracks(call.id):
            click.echo(_track_block(t))


def _tui_available() -> bool:
    try:
        import shadowbox_tui.app  # noqa: F401
    except ImportError:
        return False
    return True


@cli.command()
@pass_state
def tui(state: State) -> None:
    """Open the terminal app."""
    if not _tui_available():
        raise UserError("The terminal app is not built yet; use `shadowbox calls` and `search`")
    from shadowbox_tui.app import make_app

    make_app(state.settings).run()


def _register() -> None:
    from .cli_capture import devices, record
    from .cli_collections import collection, forget

    cli.add_command(record)
    cli.add_command(devices)
    cli.add_command(collection)
    cli.add_command(forget)


_register()


def main() -> None:
    """Console entry point."""
    cli(prog_name="shadowbox")
