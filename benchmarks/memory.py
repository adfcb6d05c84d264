"""Benchmark: peak memory (RSS) of importing and transcribing one long recording.

Makes an N-minute recording (default 60) by concatenating the sample_audio clips with
pauses between turns, then runs ``shadowbox import FILE --consent verbal`` (probe, copy,
transcribe, cut talk tracks, tag, index) as a subprocess under ``/usr/bin/time -v`` into a
fresh temporary library, with ``SHADOWBOX_CONFIG`` naming a file that does not exist. It
prints the peak resident set size, wall and CPU time, and an RSS timeline sampled from
/proc, for two files:

* ``mono16k``: 16 kHz mono FLAC (what Shadowbox records);
* ``stereo44k``: 44.1 kHz stereo FLAC, the rep on the left and other speech on the right,
  imported with ``--channel left`` (what a call recorder exports).

A short run of the same kind (``--baseline-minutes``, default 2) gives the fixed cost
(interpreter, model, VAD), so the table also shows how many MB each minute of audio adds.
**Target: peak RSS below 1 GB (10^9 bytes) for a 60-minute recording.**

Usage::

    .venv/bin/python benchmarks/memory.py [--minutes 60] [--variants mono16k,stereo44k]
        [--baseline-minutes 2] [--keep DIR] [--shadowbox CMD] [--json]

A full 60-minute run takes several minutes of CPU per variant; ``--minutes 5`` is a quick
check.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from report import table

from shadowbox.audio import SAMPLE_RATE, decode
from shadowbox.library import Library

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"
TARGET_BYTES = 1_000_000_000
VARIANTS = ("mono16k", "stereo44k")


# ---------------------------------------------------------------------------- audio


def clip_samples(sample_dir: Path) -> list[np.ndarray]:
    """Every clip of sample_dir/scripts.toml decoded to 16 kHz mono float32."""
    script = tomllib.loads((sample_dir / "scripts.toml").read_text(encoding="utf-8"))
    return [decode(sample_dir / entry["file"]).samples for entry in script["clips"]]


def write_long(path: Path, clips: Sequence[np.ndarray], minutes: float, seed: int) -> None:
    """Write ``minutes`` of clips in shuffled order with 1-3 s pauses, as 16 kHz mono FLAC.

    Written block by block, so making the file never holds more than one clip in memory.
    """
    rng = random.Random(seed)
    total = int(minutes * 60 * SAMPLE_RATE)
    written = 0
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="FLAC") as out:
        while written < total:
            order = list(range(len(clips)))
            rng.shuffle(order)
            for i in order:
                pause = np.zeros(int(rng.uniform(1.0, 3.0) * SAMPLE_RATE), np.float32)
                for block in (pause, clips[i]):
                    block = block[: total - written]
                    out.write(block)
                    written += len(block)
                if written >= total:
                    break


def make_recording(variant: str, folder: Path, clips: Sequence[np.ndarray], minutes: float
                   ) -> tuple[Path, list[str]]:
    """Create the recording for a variant; returns its path and extra import flags."""
    mono = folder / f"{variant}-{minutes:g}min-left.flac"
    write_long(mono, clips, minutes, seed=1)
    if variant == "mono16k":
        return mono, []
    if shutil.which("sox") is None:
        raise SystemExit("the stereo44k variant needs sox (apt-get install sox)")
    right = folder / f"{variant}-{minutes:g}min-right.flac"
    write_long(right, clips, minutes, seed=2)
    stereo = folder / f"{variant}-{minutes:g}min.flac"
    # -M merges the two files into channels; the output rate makes sox resample.
    subprocess.run(
        ["sox", "-M", str(mono), str(right), "-r", "44100", "-b", "16", str(stereo)],
        check=True,
    )
    mono.unlink()
    right.unlink()
    return stereo, ["--channel", "left"]


# ---------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One measured import of one recording."""

    variant: str
    minutes: float
    file_mb: float
    peak_rss_bytes: int
    wall_seconds: float
    cpu_seconds: float
    segments: int
    talk_tracks: int
    timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        """Wall seconds per second of audio."""
        return self.wall_seconds / (self.minutes * 60)


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (children, grandchildren...)."""
    out: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in children:
                out.append(int(child))
                stack.append(int(child))
    return out


def rss_bytes(pid: int) -> int:
    """Current resident set size of one process (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def sample_rss(pid: int, began: float, timeline: list[tuple[float, int]], stop: threading.Event
               ) -> None:
    """Every 0.25 s, record the largest RSS among ``pid``'s descendants."""
    while not stop.wait(0.25):
        peak = max((rss_bytes(p) for p in descendants(pid)), default=0)
        timeline.append((round(time.perf_counter() - began, 2), peak))


def _field(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"/usr/bin/time -v printed no {pattern!r}:\n{text}")
    return match.group(1)


def parse_time_v(text: str) -> tuple[int, float, float]:
    """Peak RSS bytes, wall seconds and CPU seconds from ``/usr/bin/time -v`` output."""
    peak = int(_field(r"Maximum resident set size \(kbytes\): (\d+)", text))
    cpu = float(_field(r"User time \(seconds\): ([\d.]+)", text)) + float(
        _field(r"System time \(seconds\): ([\d.]+)", text)
    )
    clock = _field(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    parts = [float(p) for p in clock.split(":")]
    wall = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    return peak * 1024, wall, cpu


def measure(variant: str, recording: Path, flags: Sequence[str], minutes: float, work: Path,
            shadowbox: Sequence[str]) -> Run:
    """Import one recording under /usr/bin/time -v while sampling RSS from /proc."""
    library = work / f"library-{variant}-{minutes:g}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWBOX_")}
    env.update(SHADOWBOX_LIBRARY=str(library),
               SHADOWBOX_CONFIG=str(work / "missing" / "config.toml"))
    report = work / f"time-{variant}-{minutes:g}.txt"
    cmd = ["/usr/bin/time", "-v", "-o", str(report), *shadowbox, "import", str(recording),
           "--consent", "verbal", *flags]
    timeline: list[tuple[float, int]] = []
    stop = threading.Event()
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    sampler = threading.Thread(target=sample_rss, args=(proc.pid, began, timeline, stop))
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"shadowbox import failed ({proc.returncode}):\n{err}{out}")
    peak, wall, cpu = parse_time_v(report.read_text())
    with Library.open(library, create=False) as lib:
        calls = lib.list_calls()
        segments = sum(len(lib.segments(c.id)) for c in calls)
        tracks = sum(len(lib.talk_tracks(c.id)) for c in calls)
    shutil.rmtree(library)
    return Run(variant, minutes, recording.stat().st_size / 1e6, peak, wall, cpu, segments,
               tracks, timeline)


# ---------------------------------------------------------------------------- output


def timeline_summary(run: Run, points: int = 10) -> str:
    """RSS (MB) at evenly spaced moments of the run, to see where memory goes."""
    if not run.timeline:
        return "(no samples)"
    step = max(1, len(run.timeline) // points)
    picked = run.timeline[::step]
    return "  ".join(f"{t:.0f}s:{rss / 1e6:.0f}" for t, rss in picked)


def main(argv: Sequence[str] | None = None) -> int:
    """Make the recordings, measure each import, print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the recording")
    parser.add_argument("--baseline-minutes", type=float, default=2.0,
                        help="short run for the fixed cost (0 to skip)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--keep", type=Path, help="make and keep the recordings in this folder")
    parser.add_argument("--shadowbox", default=str(Path(sys.executable).parent / "shadowbox"),
                        help="command that runs the Shadowbox CLI (to measure a candidate change)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    shadowbox = shlex.split(args.shadowbox)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    if not Path("/usr/bin/time").exists():
        parser.error("needs /usr/bin/time (apt-get install time)")

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    clips = clip_samples(args.samples)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="sbx-mem-") as tmp:
        work = Path(tmp)
        media = args.keep or work
        media.mkdir(parents=True, exist_ok=True)
        lengths = [m for m in (args.baseline_minutes, args.minutes) if m > 0]
        for variant in variants:
            for minutes in lengths:
                log(f"making {minutes:g} min {variant}")
                recording, flags = make_recording(variant, media, clips, minutes)
                log(f"importing {recording.name} ({recording.stat().st_size / 1e6:.0f} MB)")
                runs.append(measure(variant, recording, flags, minutes, work, shadowbox))
                if args.keep is None:
                    recording.unlink()
    slopes: dict[str, float] = {}
    for variant in variants:
        mine = sorted((r for r in runs if r.variant == variant), key=lambda r: r.minutes)
        if len(mine) == 2 and mine[1].minutes > mine[0].minutes:
            slopes[variant] = (mine[1].peak_rss_bytes - mine[0].peak_rss_bytes) / (
                mine[1].minutes - mine[0].minutes
            )
    long_runs = [r for r in runs if r.minutes == args.minutes]
    meets = all(r.peak_rss_bytes < TARGET_BYTES for r in long_runs)
    if args.json:
        print(json.dumps({
            "runs": [asdict(r) | {"rtf": r.rtf} for r in runs],
            "bytes_per_minute": slopes, "target_bytes": TARGET_BYTES, "meets_target": meets,
            "load_avg": os.getloadavg(),
        }, indent=2))
        return 0
    rows = [
        [f"{r.variant} {r.minutes:g} min", f"{r.file_mb:.0f}", f"{r.peak_rss_bytes / 1e6:.0f}",
         f"{r.wall_seconds:.0f}", f"{r.cpu_seconds:.0f}", f"{r.rtf:.3f}", str(r.segments),
         str(r.talk_tracks), "ok" if r.peak_rss_bytes < TARGET_BYTES else "OVER"]
        for r in runs
    ]
    print(table(["recording", "file MB", "peak RSS MB", "wall s", "cpu s", "RTF", "segments",
                 "tracks", "< 1 GB"], rows))
    for variant, slope in slopes.items():
        print(f"{variant}: each minute of audio adds {slope / 1e6:.1f} MB of peak RSS")
    for r in runs:
        print(f"RSS timeline {r.variant} {r.minutes:g} min (s:MB): {timeline_summary(r)}")
    print(f"\n{'meets' if meets else 'MISSES'} the target: peak RSS < 1 GB for "
          f"{args.minutes:g} minutes (load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
