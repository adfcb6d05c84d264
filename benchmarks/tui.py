"""Benchmark: how the terminal app feels. Prints its figures against the issue's targets.

1. **Cold start**: a new process opens the app on a library of 10,000 calls and paints the
   first page of calls. Target <= 1 s (from process start to that paint).
2. **Search as you type** on a library of 1,000,000 transcript segments: from a keystroke to
   the hits of exactly the typed text being on screen. Target p95 <= 100 ms. Reuses the
   library of benchmarks/search.py (``/tmp/shadowbox-bench-1m``) when it has been built;
   otherwise builds a smaller one with that script's generator and says so.
3. **Responsiveness while transcribing**: the app transcribes queued sample calls in the
   background (one speech-model thread, as the app does) while a 20 ms timer measures how
   late it fires. Target p99 lateness <= 50 ms.
4. **Playback start**: from the space key to sound arriving at the PulseAudio null sink's
   monitor (this includes the monitor's own capture latency, so it over-states), each press
   after a seek to where a word's sound begins. Target p95 <= 150 ms.

Usage::

    .venv/bin/python benchmarks/tui.py [--only start,search,transcribe,playback]
        [--segments N] [--keys N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"
BIG_DB = Path("/tmp/shadowbox-bench-1m")
CALLS_DB = Path("/tmp/shadowbox-bench-tui-10k")
TARGETS = {"start_s": 1.0, "search_p95_ms": 100.0, "timer_p99_late_ms": 50.0,
           "playback_ms": 150.0}


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of a list of figures."""
    return {
        "n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
        "p99": percentile(values, 99), "max": max(values) if values else float("nan"),
    }


def search_bench_module() -> ModuleType:
    """benchmarks/search.py, whose generator builds the big library."""
    spec = importlib.util.spec_from_file_location("search_bench", ROOT / "benchmarks/search.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_bench"] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------- 1. cold start


def build_calls_library(root: Path, n_calls: int) -> None:
    """A library of ``n_calls`` ready calls (no audio needed to list them), cached."""
    from shadowbox.library import Library

    marker = root / f"calls-{n_calls}.done"
    if marker.exists():
        return
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(3)
    reps = ["Dana", "Marcus", "Priya", "Tom", "Aisha", "Kenji", "Lucia", "Sam"]
    words = ("Budget", "Renewal", "Pilot", "Security", "Pricing", "Rollout", "Kickoff",
             "Follow-up", "Demo", "Procurement")
    calls = []
    for i in range(n_calls):
        day = 1 + i % 28
        calls.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "title": f"{rng.choice(words)} call with account {i:05d}",
            "rep": rng.choice(reps), "account": None,
            "recorded_at": f"2024-{1 + (i // 28) % 12:02d}-{day:02d}T10:{i % 60:02d}:00+00:00",
            "imported_at": "2024-12-01T00:00:00+00:00",
            "duration": rng.uniform(60, 3600), "audio_path": f"audio/{i}.ogg",
            "audio_hash": f"{i:064x}", "source": None, "channel": "mix", "status": "ready",
            "recovered": 0, "dropped_samples": 0, "model": "tiny.en",
        })
    with Library.open(root) as library:
        library.insert_synthetic(calls, [])
    marker.write_text("ok")


_CHILD = r"""
import sys, time
from pathlib import Path
from shadowbox.config import Settings
from shadowbox_tui.app import make_app

app = make_app(Settings(library=Path(sys.argv[1])), transcribe=False)

def painted():
    print(f"PAINTED {time.time():.6f}", flush=True)
    app.exit()

def check():
    table = app.library_screen.calls
    if table.total is not None and table.visible_calls():
        app.call_after_refresh(painted)
    else:
        app.set_timer(0.002, check)

app.call_later(check)
app.run(headless=True, size=(120, 40))
"""


def bench_start(n_calls: int, runs: int) -> dict[str, Any]:
    """Seconds from launching a process to the first paint of the calls."""
    build_calls_library(CALLS_DB, n_calls)
    seconds: list[float] = []
    for i in range(runs + 1):
        began = time.time()
        out = subprocess.run([sys.executable, "-c", _CHILD, str(CALLS_DB)], capture_output=True,
                             text=True, timeout=60, cwd=ROOT)
        line = next((x for x in out.stdout.splitlines() if x.startswith("PAINTED")), None)
        if line is None:
            raise SystemExit(f"the app did not paint: {out.stderr[-2000:]}")
        if i:  # the first run warms the disk cache
            seconds.append(float(line.split()[1]) - began)
    return {"calls": n_calls, **summary(seconds), "runs": seconds}


# ---------------------------------------------------------------------- 2. search as you type


def big_library(segments: int) -> tuple[Path, str]:
    """The 1M-segment library if benchmarks/search.py built it, else a smaller one of ours."""
    bench = search_bench_module()
    if (BIG_DB / bench.META).exists():
        info = bench.ensure_library(BIG_DB, 1_000_000, 7, True, False, log)
        return BIG_DB, f"{info.segments:,} segments (benchmarks/search.py's library)"
    db = Path(f"/tmp/shadowbox-bench-tui-{segments}")
    info = bench.ensure_library(db, segments, 7, True, False, log)
    return db, (f"{info.segments:,} segments (built here: {BIG_DB} was not built yet; run "
                "benchmarks/search.py for the 1M figure)")


def typing_script(n_keys: int) -> list[str]:
    """Phrases a junior would type: stock objection phrases and single words."""
    bench = search_bench_module()
    rng = random.Random(11)
    vocab = bench.Vocabulary.build(7)
    phrases: list[str] = []
    keys = 0
    while keys < n_keys:
        pick = rng.random()
        if pick < 0.5:
            phrase = rng.choice(bench.STOCK_PHRASES)
        elif pick < 0.8:
            phrase = rng.choice(vocab.words[:300])
        else:
            phrase = rng.choice(vocab.words[300:])
        phrases.append(phrase)
        keys += len(phrase)
    return phrases


async def _search_session(db: Path, phrases: list[str],
                          gap: float) -> tuple[list[float], list[float]]:
    from shadowbox_tui.app import make_app

    from shadowbox.config import Settings

    app = make_app(Settings(library=db), transcribe=False)
    latencies: list[float] = []
    queries: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.library_screen
        while screen.calls.total is None:
            await pilot.pause(0.05)
        await pilot.press("slash")
        for phrase in phrases:
            screen.search_box.value = ""
            await pilot.pause(0.3)
            for ch in phrase:
                began = time.perf_counter()
                await pilot.press("space" if ch == " " else ch)
                want = screen.search_box.value
                deadline = time.monotonic() + 10
                while screen.shown_text != want and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
                if screen.shown_text == want and want.strip():
                    latencies.append((screen.last_results_at - began) * 1000)
                    queries.append(screen.last_query_seconds * 1000)
                await pilot.pause(gap)
    return latencies, queries


def bench_search(segments: int, n_keys: int, gap: float) -> dict[str, Any]:
    """Milliseconds from a keystroke to its results on screen."""
    db, what = big_library(segments)
    phrases = typing_script(n_keys)
    log(f"typing {sum(map(len, phrases))} keys over {len(phrases)} phrases on {what}")
    latencies, queries = asyncio.run(_search_session(db, phrases, gap))
    return {"library": what, "gap_s": gap, **summary(latencies), "query_ms": summary(queries)}


# ---------------------------------------------------------------------- 3. while transcribing


def queued_library(n_clips: int) -> Path:
    """A fresh library with ``n_clips`` sample calls imported and queued, not transcribed."""
    from shadowbox.config import Settings
    from shadowbox.ingest import import_files
    from shadowbox.library import Library

    root = Path(tempfile.mkdtemp(prefix="shadowbox-bench-tui-")) / "lib"
    clips = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".ogg", ".flac"))[:n_clips]
    with Library.open(root) as library:
        if clips:
            import_files(library, clips, Settings(library=root), consent="written")
    return root


async def _timer_session(root: Path, threads: int, in_process: bool,
                         max_seconds: float, idle_seconds: float = 0.0) -> dict[str, Any]:
    from shadowbox_tui import app as app_module

    from shadowbox.config import Settings

    app_module.TRANSCRIBE_THREADS = threads
    app_module.TRANSCRIBE_IN_PROCESS = in_process
    app = app_module.make_app(Settings(library=root), transcribe=True)
    late: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            late.append((now - last[0] - 0.02) * 1000)
            last[0] = now

        began = time.monotonic()
        while not app.transcribing and time.monotonic() - began < 10:
            await pilot.pause(0.01)
        app.set_interval(0.02, tick)
        began = time.monotonic()
        if idle_seconds:
            await asyncio.sleep(idle_seconds)
        while app.transcribing and time.monotonic() - began < max_seconds:
            await asyncio.sleep(0.1)
        seconds = time.monotonic() - began
    where = "child process" if in_process else "thread"
    if idle_seconds:
        where = "control run: nothing to transcribe"
    return {"threads": threads, "where": where, "transcribed_s": seconds, **summary(late[5:])}


def bench_transcribe(n_clips: int, threads: Sequence[int],
                     modes: Sequence[str]) -> list[dict[str, Any]]:
    """A 20 ms timer's lateness while the app transcribes in the background."""
    out = []
    root = queued_library(0)
    log("control: the same timer with nothing to transcribe")
    try:
        out.append(asyncio.run(_timer_session(root, 1, True, 300, idle_seconds=15.0)))
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
    for mode in modes:
        for n in threads:
            root = queued_library(n_clips)
            log(f"transcribing {n_clips} sample calls in a {mode}, {n} model thread(s)")
            try:
                out.append(asyncio.run(_timer_session(root, n, mode == "process", 300)))
            finally:
                shutil.rmtree(root.parent, ignore_errors=True)
    return out


# ---------------------------------------------------------------------- 4. playback start


async def _playback_session(root: Path, presses: int) -> dict[str, Any]:
    import numpy as np
    import sounddevice as sd
    from shadowbox_tui.app import make_app
    from shadowbox_tui.screens.call import CallScreen

    from shadowbox.config import Settings

    blocks: list[tuple[float, Any]] = []
    lock = threading.Lock()

    def record(indata: Any, frames: int, info: Any, status: Any) -> None:
        with lock:
            blocks.append((time.perf_counter(), indata[:, 0].copy()))

    app = make_app(Settings(library=root), transcribe=False)
    to_sound: list[float] = []
    to_play: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.library_screen
        while not screen.calls.visible_calls():
            await pilot.pause(0.05)
        await pilot.press("enter")
        while not (isinstance(app.screen, CallScreen) and app.screen.player is not None):
            if isinstance(app.screen, CallScreen) and app.screen.problem:
                raise SystemExit(f"no playback: {app.screen.problem}")
            await pilot.pause(0.05)
        call = app.screen
        player = call.player
        assert player is not None
        played: list[float] = []
        real_play = player.play

        def timed_play(at: float | None = None) -> None:
            played.append(time.perf_counter())
            real_play(at)

        player.play = timed_play  # type: ignore[method-assign]
        words = [w.start for e in call.transcript.entries if e.segment for w in e.segment.words]
        stream = sd.InputStream(samplerate=16000, channels=1, dtype="float32",
                                callback=record, latency="low")
        stream.start()
        try:
            # An idle null sink takes a second or two to start a new stream; the app opens
            # the stream with the call, before anyone presses a key, so wait for that here.
            began = time.monotonic()
            while not player.device_running and time.monotonic() - began < 10:
                await pilot.pause(0.05)
            stream_start = time.monotonic() - began
            await pilot.pause(0.5)
            for i in range(presses):
                # Whisper's word start can sit before the voice begins (the first word of a
                # recording starts at 0.0 s), so seek to where that word's sound begins: the
                # key must then make sound at once, and a quiet lead-in is not latency.
                at_word = words[(i * 7) % len(words)]
                source = player.samples[int(at_word * player.sample_rate):]
                onset = np.nonzero(np.abs(source) > 0.05)[0]
                player.seek(at_word + (onset[0] / player.sample_rate if len(onset) else 0.0))
                await pilot.pause(0.6)
                with lock:
                    blocks.clear()
                pressed = time.perf_counter()
                await pilot.press("space")
                arrived = None
                deadline = time.perf_counter() + 3
                while arrived is None and time.perf_counter() < deadline:
                    await asyncio.sleep(0.005)
                    with lock:
                        for at, block in blocks:
                            loud = np.nonzero(np.abs(block) > 0.02)[0]
                            if at >= pressed and len(loud):
                                arrived = at - (len(block) - loud[0]) / 16000
                                break
                if arrived is not None:
                    to_sound.append((arrived - pressed) * 1000)
                    if played:
                        to_play.append((played[-1] - pressed) * 1000)
                await pilot.pause(0.3)
                await pilot.press("space")
        finally:
            stream.stop()
            stream.close()
    log("key to sound, in order (ms): " + " ".join(f"{v:.0f}" for v in to_sound))
    log("key to Player.play, in order (ms): " + " ".join(f"{v:.0f}" for v in to_play))
    return {"presses": presses, "heard": len(to_sound), "key_to_sound_ms": summary(to_sound),
            "stream_start_s": stream_start,
            "output_latency_ms": player.output_latency * 1000}


def bench_playback(presses: int) -> dict[str, Any]:
    """Milliseconds from the space key to the sound at the sink's monitor."""
    from shadowbox.config import Settings
    from shadowbox.ingest import import_files
    from shadowbox.library import Library
    from shadowbox.worker import Worker

    root = Path(tempfile.mkdtemp(prefix="shadowbox-bench-play-")) / "lib"
    try:
        with Library.open(root) as library:
            import_files(library, [SAMPLES / "01_price_roi.ogg"], Settings(library=root),
                         consent="written")
            Worker(library, Settings(library=root)).run(once=True)
        return asyncio.run(_playback_session(root, presses))
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


# ---------------------------------------------------------------------- report


def verdict(value: float, target: float) -> str:
    """'ok' or 'MISS', with the ratio to the target."""
    return f"{'ok' if value <= target else 'MISS'} ({value / target:.2f}x of target)"


def show(name: str, result: Any, load: float) -> None:
    """Print one part's figures as soon as it is done (with the load it ran under)."""
    if name == "start":
        s = result
        print(f"cold start to first paint, {s['calls']:,} calls: p50 {s['p50']:.3f} s, "
              f"max {s['max']:.3f} s over {s['n']} runs -> {verdict(s['p50'], TARGETS['start_s'])}")
    elif name == "search":
        s = result
        print(f"keystroke to results, {s['library']}: p50 {s['p50']:.1f} ms, p95 "
              f"{s['p95']:.1f} ms, max {s['max']:.1f} ms over {s['n']} keys -> "
              f"{verdict(s['p95'], TARGETS['search_p95_ms'])}")
        q = s["query_ms"]
        print(f"  of which shadowbox.search.search in the worker: p50 {q['p50']:.1f} ms, p95 "
              f"{q['p95']:.1f} ms, max {q['max']:.1f} ms")
    elif name == "transcribe":
        for s in result:
            print(f"20 ms timer lateness while transcribing (in a {s['where']}, {s['threads']} "
                  f"model thread(s), {s['transcribed_s']:.0f} s): p50 {s['p50']:.1f} ms, p99 "
                  f"{s['p99']:.1f} ms, max {s['max']:.1f} ms over {s['n']} ticks -> "
                  f"{verdict(s['p99'], TARGETS['timer_p99_late_ms'])}")
    elif name == "playback":
        s = result
        k = s["key_to_sound_ms"]
        print(f"space to sound at the sink's monitor: p50 {k['p50']:.0f} ms, p95 {k['p95']:.0f}"
              f" ms, max {k['max']:.0f} ms ({s['heard']}/{s['presses']} heard; output latency "
              f"{s['output_latency_ms']:.0f} ms; the sink took {s['stream_start_s']:.1f} s to "
              f"start the stream when the call opened) -> "
              f"{verdict(k['p95'], TARGETS['playback_ms'])}")
    print(f"  (load average {load:.1f} on {os.cpu_count()} CPUs)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="start,search,transcribe,playback",
                        help="comma-separated parts to run")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--starts", type=int, default=5, help="cold starts to time")
    parser.add_argument("--segments", type=int, default=100_000,
                        help="segments to build when the 1M library is not there")
    parser.add_argument("--keys", type=int, default=200, help="keystrokes to time")
    parser.add_argument("--gap", type=float, default=0.12, help="seconds between keystrokes")
    parser.add_argument("--clips", type=int, default=4, help="sample calls to transcribe")
    parser.add_argument("--threads", default="1", help="model threads to compare, e.g. 1,2")
    parser.add_argument("--modes", default="process",
                        help="where the app transcribes: process, thread or both (process,thread)")
    parser.add_argument("--presses", type=int, default=30, help="play presses to time")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    out: dict[str, Any] = {"load_avg_before": os.getloadavg(), "cpus": os.cpu_count()}
    runs: list[tuple[str, Callable[[], Any]]] = [
        ("start", lambda: bench_start(args.calls, args.starts)),
        ("search", lambda: bench_search(args.segments, args.keys, args.gap)),
        ("transcribe", lambda: bench_transcribe(
            args.clips, [int(t) for t in args.threads.split(",")], args.modes.split(","))),
        ("playback", lambda: bench_playback(args.presses)),
    ]
    for name, fn in runs:
        if name in parts:
            log(f"{name}…")
            out[name] = fn()
            out[f"load_avg_after_{name}"] = os.getloadavg()
            if not args.json:
                show(name, out[name], out[f"load_avg_after_{name}"][0])
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
