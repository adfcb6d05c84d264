"""The app's background transcriber: a child process that works the queue and reports progress.

The speech model's Python-side work (features, word alignment) holds the GIL in bursts of
tens of milliseconds; in a thread it would stall the screen. In a child process it cannot:
the app only reads one JSON line per progress step from the child's stdout.

Run as ``python -m shadowbox_tui.transcriber``; settings arrive as SHADOWBOX_* variables.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from shadowbox.config import Settings
from shadowbox.errors import ShadowboxError


@dataclass(frozen=True)
class Event:
    """One line from the child: progress of a call, the end of the run, or an error."""

    kind: str  # "start", "progress", "done" or "error"
    call_id: str | None = None
    fraction: float = 0.0
    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    message: str | None = None


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as SHADOWBOX_* variables, so the child reads exactly the same ones."""
    env: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[f"SHADOWBOX_{f.name.upper()}"] = str(value)
    return env


class ChildTranscriber:
    """Starts the child, yields its events, and stops it politely (the job is put back)."""

    def __init__(self, settings: Settings) -> None:
        """Prepare to transcribe ``settings.library``'s queue with ``settings``' model."""
        self.settings = settings
        self._proc: subprocess.Popen[str] | None = None

    def events(self) -> Iterator[Event]:
        """Run the child and yield what it reports until it exits."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWBOX_")}
        env.update(settings_env(self.settings))
        # A missing file: the parent's settings are complete, nothing else may add to them.
        env["SHADOWBOX_CONFIG"] = os.devnull + ".none.toml"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "shadowbox_tui.transcriber"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            yield Event(
                kind=data["kind"], call_id=data.get("call_id"),
                fraction=float(data.get("fraction", 0.0)),
                done=tuple(data.get("done", ())), failed=tuple(data.get("failed", ())),
                message=data.get("message"),
            )
        self._proc.wait()

    def stop(self) -> None:
        """Ask the child to put its job back and exit (it does at its next segment)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)


def _emit(out: IO[str], **data: Any) -> None:
    out.write(json.dumps(data) + "\n")
    out.flush()


def main() -> int:
    """The child: transcribe the queue once, one JSON line per event on stdout."""
    from shadowbox.config import load_settings
    from shadowbox.library import Library
    from shadowbox.worker import Progress, Worker

    out = sys.stdout

    def report(**data: Any) -> None:
        _emit(out, **data)

    try:
        settings = load_settings()
        with Library.open(Path(settings.library)) as library:

            def progress(p: Progress) -> None:
                report(kind="progress", call_id=p.call.id, fraction=p.fraction)

            worker = Worker(library, settings, on_progress=progress,
                            on_start=lambda call: report(kind="start", call_id=call.id))
            result = worker.run(once=True)
    except KeyboardInterrupt:
        return 130
    except ShadowboxError as exc:
        report(kind="error", message=str(exc))
        return 1
    report(kind="done", done=[c.id for c in result.done],
           failed=[f"{c.title}: {reason}" for c, reason in result.failed])
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
