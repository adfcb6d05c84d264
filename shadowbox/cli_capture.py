"""The ``record`` and ``devices`` commands: parse, drive a RecordingSession, show one live line.

Registered on the main group in cli.py. On a terminal, keys are read raw: space or Enter
stops, ``m`` drops a bookmark, Ctrl-C stops and keeps the audio. Without a terminal,
``--duration`` (or SIGINT/SIGTERM) ends the recording.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import termios
import time
import tty
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import IO, TYPE_CHECKING

import click

from .config import CONSENT_METHODS

if TYPE_CHECKING:
    from .capture import Recorder
    from .cli import State
    from .recording import LiveStatus, RecordingSession, SavedRecording

STOP_KEYS = (" ", "\r", "\n")
MARK_KEYS = ("m", "M")
TICK = 0.1


@click.command()
@click.option(
    "--device",
    help="Input device: a name (or a unique part of one) or an index from `shadowbox devices`"
    " (default: the system's default input).",
)
@click.option(
    "--consent",
    type=click.Choice(CONSENT_METHODS, case_sensitive=False),
    help="How the other party consented; asked on the terminal when not given.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop by itself after this many seconds of audio.",
)
@click.option("--title", help="Title (default: 'Call' and the date and time).")
@click.option("--rep", help="The rep whose side this is (default: the `rep` setting).")
@click.option("--transcribe", is_flag=True, help="Transcribe the call straight after stopping.")
@click.pass_obj
def record(
    state: State,
    device: str | None,
    consent: str | None,
    duration: float | None,
    title: str | None,
    rep: str | None,
    transcribe: bool,
) -> None:
    """Record your side of a call (microphone only) once the other party has consented.

    On a terminal: space or Enter stops, m drops a bookmark, Ctrl-C stops and keeps the
    audio; one line shows the time, the level, and warnings (clipping, no signal for 10 s).
    Without a terminal, --consent is required and --duration (or SIGINT/SIGTERM) stops it.

    Consent: verbal (the other party agreed), announcement (a spoken notice is played
    through the output device first; the `announcement_file` setting replaces the built-in
    one) or written. The recording survives a crash: the next command recovers it.
    """
    from .capture import find_input_device
    from .recording import RecordingSession, resolve_record_consent

    interactive = sys.stdin.isatty()
    method = resolve_record_consent(
        consent, state.settings, _ask_consent if interactive else None
    )
    input_device = find_input_device(device)
    session = RecordingSession(
        state.library, state.settings, consent=method, title=title, rep=rep,
        device=input_device,
    )
    if method == "announcement":
        click.echo("Playing the consent notice to the other party...", err=True)
    session.start()
    rate = session.recorder.samplerate
    how = (
        "space/Enter stops, m marks, Ctrl-C stops and keeps"
        if interactive
        else "stops after --duration" if duration else "stop it with Ctrl-C or SIGTERM"
    )
    click.echo(
        f"Recording {session.title!r} from {input_device.name} at {rate} Hz ({how})", err=True
    )
    line = LiveLine(sys.stderr) if interactive and sys.stderr.isatty() else None
    try:
        with _stop_on_signals() as stop_flag, _keys(interactive) as keys:
            _wait(session, keys, duration, line, stop_flag)
    except KeyboardInterrupt:
        pass  # Ctrl-C stops and keeps the recording
    if line is not None:
        line.clear()
    saved = session.stop()
    click.echo(_summary(saved))
    if saved.note:
        click.echo(f"shadowbox: {saved.note}", err=True)
    if saved.overflows:
        click.echo(
            f"shadowbox: warning: the input overflowed {saved.overflows} times; about "
            f"{saved.dropped_samples / rate:.2f} s of audio was lost", err=True,
        )
    if saved.fault is not None:
        click.echo(
            f"shadowbox: recording stopped early: {saved.fault.message}; kept "
            f"{_clock(saved.duration)} as call {saved.call.id[:8]}", err=True,
        )
        sys.exit(1)
    if transcribe:
        from .cli import _run_worker

        _run_worker(state, model=None, call_ids=[saved.call.id])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def devices(as_json: bool) -> None:
    """List audio inputs and outputs; the system defaults are marked.

    `shadowbox record --device` takes a name, a unique part of one, or an index.
    """
    from .capture import list_devices

    found = list_devices()
    if as_json:
        click.echo(json.dumps([d.to_json() for d in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("No audio devices found (is the sound server running?)", err=True)
        return
    width = max(len(d.name) for d in found)
    click.echo(f"{'idx':>3}  {'name':<{width}}  {'in':>3}  {'out':>3}  {'rate':>6}  default")
    for d in found:
        marks = ", ".join(
            kind for kind, on in (("input", d.default_input), ("output", d.default_output)) if on
        )
        click.echo(
            f"{d.index:>3}  {d.name:<{width}}  {d.max_input_channels:>3}  "
            f"{d.max_output_channels:>3}  {d.default_samplerate:>6.0f}  {marks}".rstrip()
        )


# ---------------------------------------------------------------------- helpers


def _ask_consent(allowed: Sequence[str], default: str | None) -> str | None:
    """Ask the rep on the terminal how the other party consented; None means no consent."""
    click.echo("This call is recorded only with the other party's consent.", err=True)
    choices = "/".join(allowed)
    answer = click.prompt(
        f"How did they consent? ({choices}; n cancels)",
        default=default or "", show_default=bool(default), err=True,
    ).strip().lower()
    if answer in ("", "n", "no"):
        return None
    for method in allowed:
        if method.startswith(answer):
            return method
    return answer


def _wait(
    session: RecordingSession,
    keys: KeyReader | None,
    duration: float | None,
    line: LiveLine | None,
    stop_flag: list[str],
) -> str:
    """Run until a stop key, the duration, a signal or a fault; returns which it was."""
    from .recording import SignalWatch

    recorder: Recorder = session.recorder
    watch = SignalWatch()
    while True:
        if recorder.fault is not None:
            return "fault"
        if stop_flag:
            return stop_flag[0]
        if duration is not None and recorder.elapsed >= duration:
            return "duration"
        status = watch.update(recorder.level(), time.monotonic())
        if line is not None:
            line.draw(recorder.elapsed, status, len(session.markers))
        if keys is None:
            time.sleep(TICK)
            continue
        for key in keys.read(TICK):
            if key in STOP_KEYS:
                return "key"
            if key in MARK_KEYS:
                marker = session.mark()
                if line is not None:
                    line.flash(f"bookmark {len(session.markers)} at {_clock(marker.at)}")
            elif key == "\x03":  # Ctrl-C when the terminal sends it as a key
                raise KeyboardInterrupt


class KeyReader:
    """Single key presses from a terminal in cbreak mode (no echo, no Enter needed)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, timeout: float) -> str:
        """The keys pressed within ``timeout`` seconds ('' if none)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        if not data:
            raise KeyboardInterrupt  # the terminal went away: stop and keep
        return data.decode(errors="ignore")


@contextmanager
def _keys(interactive: bool) -> Iterator[KeyReader | None]:
    if not interactive:
        yield None
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield KeyReader(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextmanager
def _stop_on_signals() -> Iterator[list[str]]:
    """SIGTERM and SIGHUP stop the recording and keep it, like Ctrl-C."""
    flag: list[str] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        flag.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class LiveLine:
    """One self-rewriting status line: elapsed time, a level bar, bookmarks and warnings."""

    def __init__(self, stream: IO[str], width: int = 20) -> None:
        self.stream = stream
        self.width = width
        self._flash: tuple[str, float] | None = None

    def flash(self, text: str, seconds: float = 2.0) -> None:
        """Show ``text`` on the line for a moment (a bookmark was dropped)."""
        self._flash = (text, time.monotonic() + seconds)

    def draw(self, elapsed: float, status: LiveStatus, bookmarks: int) -> None:
        """Redraw the line."""
        level = status.level
        db = level.dbfs if level is not None else -120.0
        filled = max(0, min(self.width, round((db + 60) / 60 * self.width)))
        bar = "#" * filled + "." * (self.width - filled)
        parts = [f"REC {_clock(elapsed)}", f"[{bar}] {max(db, -99):4.0f} dB"]
        if bookmarks:
            parts.append(f"{bookmarks} bookmark{'s' if bookmarks != 1 else ''}")
        if self._flash is not None and time.monotonic() < self._flash[1]:
            parts.append(self._flash[0])
        parts.extend(w.upper() if w.startswith("clipping") else w for w in status.warnings)
        self.stream.write("\r\033[K" + "  ".join(parts))
        self.stream.flush()

    def clear(self) -> None:
        """Erase the line before other output."""
        self.stream.write("\r\033[K")
        self.stream.flush()


def _summary(saved: SavedRecording) -> str:
    call = saved.call
    marks = len(saved.markers)
    size = saved.audio_bytes / 1024
    return (
        f"Saved call {call.id[:8]} {call.title!r}: {_clock(saved.duration)}, {marks} "
        f"bookmark{'s' if marks != 1 else ''}, {saved.audio_format} ({size:.0f} KB); "
        f"{call.status} for transcription"
    )


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
