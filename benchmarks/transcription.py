"""Benchmark: the whole Shadowbox pipeline against whisper-ctranslate2, and a decoding sweep.

What it measures, on a batch of short calls (every sample_audio clip, plus any ``--extra``
recording such as the real jfk.flac):

1. **Pipeline vs whisper-ctranslate2.** Wall time of ``shadowbox import FILES --consent
   verbal`` (import, transcribe, cut talk tracks, tag, index) into a fresh temporary library,
   run as a subprocess with ``SHADOWBOX_LIBRARY`` set and ``SHADOWBOX_CONFIG`` naming a file
   that does not exist, against ``whisper-ctranslate2`` (the faster-whisper CLI from PyPI, in
   its own venv) on the same files with the same model (the embedded tiny.en CTranslate2
   folder), word timestamps and VAD on, int8 and the same thread count, decoding otherwise
   with its own defaults (beam 5). Rounds alternate which tool goes first and the ratio is
   taken per round, since the machine is shared and noisy. An extra informational row runs
   whisper-ctranslate2 with Shadowbox's decoding choices, to show what the pipeline's own
   work (import, tagging, indexing) costs.
   **Target: pipeline <= 0.8x whisper-ctranslate2's wall time at the same or better word
   error rate (WER).**
2. **Decoding sweep** (run first), in-process with one loaded model per thread count: bare
   faster-whisper with its defaults (beam 5, no VAD, no word timestamps: the floor), the
   in-process equivalent of whisper-ctranslate2's settings (the WER reference), Shadowbox's
   current DecodeOptions, one change at a time from them (beam size 1/2/5, threads 1/2, VAD
   minimum silence, conditioning on previous text, best_of, temperature fallback), and a grid
   of beam size x VAD minimum silence x conditioning. For each: total seconds, real-time
   factor (RTF: seconds of compute per second of audio) and WER on sample_audio and on the
   extra files separately. It recommends the fastest choice with word timestamps and VAD on
   whose WER is no worse than the reference's (within ``--wer-tolerance``), and part 1 then
   also runs the pipeline with that recommendation (DecodeOptions defaults overridden in the
   subprocess only), so the change can be judged end to end before anyone makes it.

WER uses jiwer after normalising both sides the same way: lowercase, numbers spelled out,
hyphens split, punctuation and apostrophes dropped.

Install whisper-ctranslate2 in its own venv (never in the project's)::

    python3 -m venv /tmp/wct2-venv && /tmp/wct2-venv/bin/pip install whisper-ctranslate2

Usage::

    .venv/bin/python benchmarks/transcription.py \\
        --extra /work/shared/real-audio/jfk.flac [--wct2 /tmp/wct2-venv/bin/whisper-ctranslate2]
        [--threads 2] [--rounds 2] [--repeats 2] [--limit N] [--no-grid]
        [--choices "beam_size 5;grid: beam 1, vad 2000"] [--candidate beam_size=5]
        [--skip-cli] [--skip-sweep] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from report import table

from shadowbox.audio import decode
from shadowbox.library import Library
from shadowbox.transcribe import DecodeOptions, Transcriber, embedded_model_dir

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"
DEFAULT_WCT2 = Path("/tmp/wct2-venv/bin/whisper-ctranslate2")
INSTALL_WCT2 = (
    "python3 -m venv /tmp/wct2-venv && /tmp/wct2-venv/bin/pip install whisper-ctranslate2"
)
TARGET_RATIO = 0.8
# Transcripts of real recordings that may be passed with --extra, by file name.
KNOWN_TRANSCRIPTS = {
    "jfk.flac": (
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    ),
}

# ---------------------------------------------------------------------------- text and WER

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spell_number(n: int) -> str:
    """Spell a whole number below a million in words ("forty five", "two thousand")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + spell_number(rest))
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        return (
            spell_number(thousands) + " thousand"
            + ("" if rest == 0 else " " + spell_number(rest))
        )
    return str(n)


def normalise(text: str) -> str:
    """Make a transcript comparable: lowercase, numbers in words, no punctuation.

    The model writes "30 days" or "$5,000" where a script says "thirty days" or "five
    thousand dollars"; both sides go through this, so only real differences count.
    """
    text = text.lower().replace("%", " percent ").replace("-", " ")
    text = re.sub(r"\$(\d[\d,]*)", r"\1 dollars", text)
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"\d+", lambda m: " " + spell_number(int(m.group())) + " ", text)
    text = text.replace("'", "").replace("’", "")
    text = re.sub(r"[^a-z ]+", " ", text)
    return " ".join(text.split())


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float | None:
    """WER over several (reference, hypothesis) pairs taken as one corpus; None if empty."""
    refs: list[str] = []
    hyps: list[str] = []
    for ref, hyp in pairs:
        ref_n = normalise(ref)
        if ref_n:
            refs.append(ref_n)
            hyps.append(normalise(hyp))
    if not refs:
        return None
    return float(jiwer.wer(refs, hyps))


# ---------------------------------------------------------------------------- clips


@dataclass
class Clip:
    """One recording of the batch, with its ground truth if known."""

    path: Path
    group: str  # "sample" or "extra"
    reference: str | None
    samples: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))

    @property
    def duration(self) -> float:
        """Length in seconds (16 kHz samples)."""
        return len(self.samples) / 16000


def load_clips(sample_dir: Path, extras: Sequence[Path], limit: int | None = None) -> list[Clip]:
    """The batch: the clips of ``sample_dir/scripts.toml`` (the first ``limit``) and extras."""
    clips: list[Clip] = []
    script = tomllib.loads((sample_dir / "scripts.toml").read_text(encoding="utf-8"))
    for entry in script["clips"][:limit]:
        text = " ".join(turn["text"] for turn in entry["turns"])
        clips.append(Clip(sample_dir / entry["file"], "sample", text))
    for extra in extras:
        clips.append(Clip(extra.resolve(), "extra", KNOWN_TRANSCRIPTS.get(extra.name)))
    for clip in clips:
        # Decoded as the pipeline decodes (16 kHz mono, stereo mixed), so the sweep and the
        # pipeline hear the same samples.
        clip.samples = decode(clip.path).samples
    return clips


def wer_by_group(clips: Sequence[Clip], texts: dict[str, str]) -> dict[str, float | None]:
    """WER of each group ("sample", "extra") given hypothesis texts keyed by file name."""
    out: dict[str, float | None] = {}
    for group in ("sample", "extra"):
        out[group] = corpus_wer(
            (c.reference, texts.get(c.path.name, ""))
            for c in clips
            if c.group == group and c.reference
        )
    return out


# ---------------------------------------------------------------------------- CLI runs


@dataclass
class CliRun:
    """One timed run of a command-line tool over the whole batch."""

    seconds: float
    texts: dict[str, str]


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without SHADOWBOX_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWBOX_")}
    env.update(extra)
    return env


# Runs the CLI with other DecodeOptions defaults: how a candidate change to transcribe.py is
# measured end to end before anyone edits it.
CANDIDATE_RUNNER = """
import functools, json, os, sys
import shadowbox.transcribe as transcribe, shadowbox.worker as worker
overrides = json.loads(os.environ["SHADOWBOX_BENCH_DECODE"])
worker.DecodeOptions = functools.partial(transcribe.DecodeOptions, **overrides)
from shadowbox.cli import main
sys.argv[0] = "shadowbox"
sys.exit(main())
"""


def run_pipeline(
    files: Sequence[Path], threads: int, candidate: dict[str, Any] | None = None
) -> CliRun:
    """Time ``shadowbox import FILES --consent verbal`` into a fresh library; read transcripts.

    With ``candidate`` (DecodeOptions fields), the same CLI runs with those decoding defaults.
    """
    with tempfile.TemporaryDirectory(prefix="sbx-bench-") as tmp:
        library = Path(tmp) / "library"
        env = clean_env(
            SHADOWBOX_LIBRARY=str(library),
            SHADOWBOX_CONFIG=str(Path(tmp) / "missing" / "config.toml"),
            SHADOWBOX_CPU_THREADS=str(threads),
        )
        command = [str(Path(sys.executable).parent / "shadowbox")]
        if candidate:
            overrides = dict(candidate)
            # The worker passes these two from the settings, so they go through the environment.
            if "beam_size" in overrides:
                env["SHADOWBOX_BEAM_SIZE"] = str(overrides.pop("beam_size"))
            if "cpu_threads" in overrides:
                env["SHADOWBOX_CPU_THREADS"] = str(overrides.pop("cpu_threads"))
            env["SHADOWBOX_BENCH_DECODE"] = json.dumps(overrides)
            command = [sys.executable, "-c", CANDIDATE_RUNNER]
        cmd = [*command, "import", *map(str, files), "--consent", "verbal"]
        began = time.perf_counter()
        # cwd: `python -c` puts the working folder first on sys.path, which must not pick
        # which shadowbox is imported.
        done = subprocess.run(
            cmd, env=env, cwd=tmp, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"shadowbox import failed ({done.returncode}):\n{done.stderr}")
        texts: dict[str, str] = {}
        with Library.open(library, create=False) as lib:
            for call in lib.list_calls():
                texts[call.source or call.title] = " ".join(
                    s.text for s in lib.segments(call.id)
                )
    return CliRun(seconds, texts)


def run_wct2(
    wct2: Path, files: Sequence[Path], threads: int, model_dir: Path, extra: Sequence[str] = ()
) -> CliRun:
    """Time whisper-ctranslate2 over the batch (one process, model loaded once)."""
    with tempfile.TemporaryDirectory(prefix="wct2-bench-") as out:
        cmd = [
            str(wct2), *map(str, files),
            "--model_directory", str(model_dir), "--device", "cpu", "--compute_type", "int8",
            "--threads", str(threads), "--language", "en", "--word_timestamps", "True",
            "--vad_filter", "True", "--output_format", "txt", "--output_dir", out,
            "--verbose", "False", *extra,
        ]
        env = clean_env(HF_HUB_OFFLINE="1")
        began = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"whisper-ctranslate2 failed ({done.returncode}):\n{done.stderr}")
        texts = {}
        for f in files:
            txt = Path(out) / (f.stem + ".txt")
            texts[f.name] = txt.read_text(encoding="utf-8") if txt.exists() else ""
    return CliRun(seconds, texts)


def wct2_matched_args(options: DecodeOptions) -> list[str]:
    """whisper-ctranslate2 flags that reproduce Shadowbox's decoding choices."""
    return [
        "--beam_size", str(options.beam_size),
        "--condition_on_previous_text", str(options.condition_on_previous_text),
        "--vad_min_silence_duration_ms", str(options.min_silence_ms),
    ]


def compare_cli(
    clips: Sequence[Clip], wct2: Path, threads: int, rounds: int, log: Callable[[str], None],
    candidate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Alternate pipeline and whisper-ctranslate2 runs; per-round ratios and WERs.

    With ``candidate`` (DecodeOptions changes, e.g. the sweep's recommendation), the pipeline
    is also run with them, and its ratio is reported too.
    """
    files = [c.path for c in clips]
    model_dir = embedded_model_dir()
    matched = wct2_matched_args(DecodeOptions(cpu_threads=threads))
    pipeline = "shadowbox import (pipeline)"
    reference = "whisper-ctranslate2 (its defaults)"
    runners: dict[str, Callable[[], CliRun]] = {
        pipeline: lambda: run_pipeline(files, threads),
        reference: lambda: run_wct2(wct2, files, threads, model_dir),
        "whisper-ctranslate2 (Shadowbox decoding)": lambda: run_wct2(
            wct2, files, threads, model_dir, matched
        ),
    }
    if candidate:
        label = ", ".join(f"{k}={v}" for k, v in candidate.items())
        runners[f"shadowbox import (candidate: {label})"] = lambda: run_pipeline(
            files, threads, candidate
        )
    runs: dict[str, list[CliRun]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            log(f"round {r + 1}/{rounds}: {name}")
            runs[name].append(runners[name]())
    audio = sum(c.duration for c in clips)
    rows = []
    for name, results in runs.items():
        secs = [x.seconds for x in results]
        wers = wer_by_group(clips, results[-1].texts)
        rows.append({
            "tool": name, "seconds": secs, "median_s": statistics.median(secs),
            "min_s": min(secs), "rtf": statistics.median(secs) / audio,
            "wer_sample": wers["sample"], "wer_extra": wers["extra"],
        })
    by_name = {row["tool"]: row for row in rows}
    verdicts = []
    for name in names:
        if not name.startswith("shadowbox"):
            continue
        ratios = [
            p.seconds / w.seconds for p, w in zip(runs[name], runs[reference], strict=True)
        ]
        ratio = statistics.median(ratios)
        wer_ok = all(
            by_name[name][k] is None or by_name[reference][k] is None
            or by_name[name][k] <= by_name[reference][k] + 1e-9
            for k in ("wer_sample", "wer_extra")
        )
        verdicts.append({
            "tool": name, "round_ratios": ratios, "ratio": ratio, "wer_same_or_better": wer_ok,
            "meets_target": ratio <= TARGET_RATIO and wer_ok,
        })
    return {
        "audio_seconds": audio, "files": len(files), "threads": threads, "rounds": rounds,
        "rows": rows, "verdicts": verdicts, "target_ratio": TARGET_RATIO,
        "startup_seconds": startup_costs(threads),
        "meets_target": verdicts[0]["meets_target"],
    }


STARTUP_PROBE = """
import json, sys, time
began = time.perf_counter()
marks = {}
import shadowbox.cli, shadowbox.ingest, shadowbox.worker
marks["import shadowbox (cli, ingest, worker)"] = time.perf_counter() - began
t = time.perf_counter()
from shadowbox.transcribe import DecodeOptions, Transcriber
Transcriber(options=DecodeOptions(cpu_threads=int(sys.argv[1])))
marks["load the model (Transcriber)"] = time.perf_counter() - t
t = time.perf_counter()
from shadowbox.objections import Tagger, load_taxonomy
taxonomy = load_taxonomy()
marks["load_taxonomy()"] = time.perf_counter() - t
t = time.perf_counter()
tagger = Tagger(taxonomy)
marks["Tagger(taxonomy)"] = time.perf_counter() - t
t = time.perf_counter()
tagger.tag("I hear you, the spend is hard to justify this year, so let us start smaller.")
marks["first Tagger.tag() (lazy set-up)"] = time.perf_counter() - t
print(json.dumps(marks))
"""


def startup_costs(threads: int) -> dict[str, float]:
    """Seconds a fresh ``shadowbox import`` process spends before its first file.

    These are paid once per process: with a short batch they weigh on the pipeline/wct2
    ratio, so they are measured apart (in a fresh interpreter, like the CLI's).
    """
    done = subprocess.run(
        [sys.executable, "-c", STARTUP_PROBE, str(threads)], env=clean_env(),
        capture_output=True, text=True, check=True,
    )
    return {k: float(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


# ---------------------------------------------------------------------------- sweep


@dataclass
class Choice:
    """One decoding setting of the sweep: a change from Shadowbox's current options."""

    name: str
    threads: int
    kwargs: dict[str, Any]
    delta: dict[str, Any]
    eligible: bool = True  # keeps word timestamps and VAD on, so it may be recommended
    guard: bool = False  # run through Shadowbox's Transcriber (repetition guard included)


def base_kwargs(options: DecodeOptions) -> dict[str, Any]:
    """faster-whisper arguments equal to what Transcriber passes for ``options``."""
    return {
        "language": "en",
        "beam_size": options.beam_size,
        "vad_filter": options.vad_filter,
        "vad_parameters": {"min_silence_duration_ms": options.min_silence_ms},
        "word_timestamps": options.word_timestamps,
        "condition_on_previous_text": options.condition_on_previous_text,
        "compression_ratio_threshold": options.compression_ratio_threshold,
        "no_speech_threshold": options.no_speech_threshold,
        "log_prob_threshold": options.log_prob_threshold,
    }


def apply(kwargs: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """kwargs with the sweep's changes applied (``min_silence_ms`` goes into vad_parameters)."""
    out = dict(kwargs)
    for key, value in delta.items():
        if key == "min_silence_ms":
            out["vad_parameters"] = {"min_silence_duration_ms": value}
        elif key != "cpu_threads":
            out[key] = value
    return out


REFERENCE = "faster-whisper defaults + VAD + words (= wct2)"
CURRENT = "shadowbox now"


def sweep_choices(options: DecodeOptions, grid: bool) -> list[Choice]:
    """The floor, the wct2 equivalent, the current defaults, one change at a time, and a grid.

    The grid crosses the choices that move word error rate most (beam size, VAD minimum
    silence, conditioning on previous text), so a setting that is both fast and accurate
    can be found rather than guessed from single changes.
    """
    base = base_kwargs(options)
    t = options.cpu_threads
    choices = [
        Choice("faster-whisper defaults (floor: beam 5, no VAD, no words)", t,
               {"language": "en"}, {}, eligible=False),
        Choice(REFERENCE, t, {"language": "en", "vad_filter": True, "word_timestamps": True},
               {}, eligible=False),
        Choice(f"{CURRENT} (beam {options.beam_size}, {t} thr, vad {options.min_silence_ms} ms,"
               f" cond {options.condition_on_previous_text})", t, base, {}, guard=True),
    ]
    seen: list[dict[str, Any]] = [{}]

    def vary(name: str, **delta: Any) -> None:
        current = {
            "beam_size": options.beam_size, "min_silence_ms": options.min_silence_ms,
            "condition_on_previous_text": options.condition_on_previous_text,
        }
        delta = {k: v for k, v in delta.items() if current.get(k, object()) != v}
        if delta in seen:
            return
        seen.append(delta)
        threads = int(delta.get("cpu_threads", t))
        choices.append(Choice(name, threads, apply(base, delta), delta))

    for beam in (1, 2, 5):
        vary(f"beam_size {beam}", beam_size=beam)
    for threads in (1, 2):
        if threads != t:
            vary(f"cpu_threads {threads}", cpu_threads=threads)
    for ms in (250, 500, 1000, 2000):
        vary(f"vad min_silence {ms} ms", min_silence_ms=ms)
    for cond in (False, True):
        vary(f"condition_on_previous_text {cond}", condition_on_previous_text=cond)
    vary("best_of 1", best_of=1)
    vary("temperature fallback off (t=0)", temperature=0.0)
    vary("fallback off, best_of 1", temperature=0.0, best_of=1)
    if grid:
        for beam in (1, 2, 5):
            for ms in (500, 1000, 2000):
                for cond in (False, True):
                    vary(f"grid: beam {beam}, vad {ms} ms, cond {cond}", beam_size=beam,
                         min_silence_ms=ms, condition_on_previous_text=cond)
    return choices


@dataclass
class Measured:
    """Sweep figures for one choice."""

    choice: Choice
    seconds: list[float] = field(default_factory=list)
    seconds_by_group: dict[str, float] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


def run_choice(
    choice: Choice, transcriber: Transcriber, clips: Sequence[Clip]
) -> tuple[float, dict[str, float], dict[str, str]]:
    """Transcribe every clip with one choice; total seconds, seconds per group, texts."""
    texts: dict[str, str] = {}
    by_group: dict[str, float] = {"sample": 0.0, "extra": 0.0}
    total = 0.0
    for clip in clips:
        began = time.perf_counter()
        if choice.guard:
            text = " ".join(s.text for s in transcriber.transcribe(clip.samples))
        else:
            segments, _info = transcriber.model.transcribe(clip.samples, **choice.kwargs)
            text = " ".join(s.text.strip() for s in segments)
        spent = time.perf_counter() - began
        total += spent
        by_group[clip.group] += spent
        texts[clip.path.name] = text
    return total, by_group, texts


def run_sweep(
    clips: Sequence[Clip], options: DecodeOptions, repeats: int, tolerance: float, grid: bool,
    log: Callable[[str], None], only: Sequence[str] = (),
) -> dict[str, Any]:
    """Measure every choice ``repeats`` times (interleaved, best kept) and recommend one.

    The recommendation is the fastest choice that keeps word timestamps and VAD on and whose
    WER on every group is no worse than the whisper-ctranslate2 equivalent's (the target's
    reference) within ``tolerance``; also reported: the fastest no worse than the current.
    """
    transcribers: dict[int, Transcriber] = {}

    def transcriber_for(threads: int) -> Transcriber:
        if threads not in transcribers:
            transcribers[threads] = Transcriber(
                options=dataclasses.replace(options, cpu_threads=threads)
            )
        return transcribers[threads]

    choices = sweep_choices(options, grid)
    if only:  # the reference and the current defaults always stay, to compare against
        choices = [c for c in choices if c.name == REFERENCE or c.name.startswith(CURRENT)
                   or any(o in c.name for o in only)]
    measured = {c.name: Measured(c) for c in choices}
    transcriber_for(options.cpu_threads).transcribe(clips[0].samples[: 16000 * 5])  # warm up
    for r in range(repeats):
        order = choices if r % 2 == 0 else choices[::-1]
        for i, choice in enumerate(order):
            log(f"sweep {r + 1}/{repeats} ({i + 1}/{len(order)}): {choice.name}")
            total, by_group, texts = run_choice(choice, transcriber_for(choice.threads), clips)
            m = measured[choice.name]
            m.seconds.append(total)
            if total <= min(m.seconds):
                m.seconds_by_group, m.texts = by_group, texts
    rows = [summarise(m, clips) for m in measured.values()]
    reference = next(r for r in rows if r["name"] == REFERENCE)
    current = next(r for r in rows if r["name"].startswith(CURRENT))

    def fastest(ref: dict[str, Any]) -> dict[str, Any] | None:
        ok = [r for r in rows if r["eligible"] and no_worse(r, ref, tolerance)]
        return min(ok, key=lambda r: r["seconds"]) if ok else None

    best = fastest(reference)
    if best is None:  # nothing matches the reference: the most accurate eligible choice
        best = min((r for r in rows if r["eligible"]),
                   key=lambda r: (r["wer_sample"] or 0, r["wer_extra"] or 0, r["seconds"]))
    same_as_now = fastest(current) or current
    return {
        "audio_seconds": sum(c.duration for c in clips),
        "audio_seconds_sample": sum(c.duration for c in clips if c.group == "sample"),
        "audio_seconds_extra": sum(c.duration for c in clips if c.group == "extra"),
        "repeats": repeats, "wer_tolerance": tolerance, "rows": rows,
        "reference": reference["name"], "current": current["name"],
        "recommended": best["name"], "recommended_delta": best["delta"],
        "recommended_vs_current_speed": current["seconds"] / best["seconds"],
        "recommended_vs_reference_speed": reference["seconds"] / best["seconds"],
        "fastest_no_worse_than_current": same_as_now["name"],
        "fastest_no_worse_than_current_delta": same_as_now["delta"],
    }


def no_worse(row: dict[str, Any], ref: dict[str, Any], tolerance: float) -> bool:
    """True when ``row``'s WERs are within ``tolerance`` of ``ref``'s on every group."""
    for key in ("wer_sample", "wer_extra"):
        if row[key] is not None and ref[key] is not None and row[key] > ref[key] + tolerance:
            return False
    return True


def summarise(m: Measured, clips: Sequence[Clip]) -> dict[str, Any]:
    """One table row: best-of-repeats seconds, RTF and WER per group."""
    audio = sum(c.duration for c in clips)
    seconds = min(m.seconds)
    wers = wer_by_group(clips, m.texts)
    return {
        "name": m.choice.name, "threads": m.choice.threads, "delta": m.choice.delta,
        "eligible": m.choice.eligible, "seconds": seconds, "all_seconds": m.seconds,
        "rtf": seconds / audio, "seconds_sample": m.seconds_by_group.get("sample", 0.0),
        "seconds_extra": m.seconds_by_group.get("extra", 0.0),
        "wer_sample": wers["sample"], "wer_extra": wers["extra"],
    }


# ---------------------------------------------------------------------------- output


def pct(value: float | None) -> str:
    """A WER as a percentage, or a dash when there was no reference."""
    return "-" if value is None else f"{100 * value:.1f}%"


def print_cli(res: dict[str, Any]) -> None:
    """The pipeline vs whisper-ctranslate2 table and verdicts."""
    print(f"\n== Pipeline vs whisper-ctranslate2: {res['files']} files, "
          f"{res['audio_seconds']:.1f} s of audio, {res['threads']} threads, "
          f"{res['rounds']} rounds ==")
    rows = [
        [r["tool"], f"{r['median_s']:.2f}", f"{r['min_s']:.2f}",
         " ".join(f"{s:.1f}" for s in r["seconds"]), f"{r['rtf']:.3f}",
         pct(r["wer_sample"]), pct(r["wer_extra"])]
        for r in res["rows"]
    ]
    print(table(["tool", "median s", "min s", "runs s", "RTF", "WER sample", "WER extra"], rows))
    startup = res["startup_seconds"]
    print("fixed start-up cost of one shadowbox process (s): " + "; ".join(
        f"{k} {v:.2f}" for k, v in startup.items()) + f"; total {sum(startup.values()):.2f}")
    for v in res["verdicts"]:
        ratios = ", ".join(f"{x:.2f}" for x in v["round_ratios"])
        print(f"{v['tool']} / whisper-ctranslate2 wall time: {v['ratio']:.2f}x (rounds: "
              f"{ratios}); WER same or better: {'yes' if v['wer_same_or_better'] else 'no'}; "
              f"target <= {res['target_ratio']}x: {'MEETS' if v['meets_target'] else 'MISSES'}")


def print_sweep(res: dict[str, Any]) -> None:
    """The decoding sweep table and the recommendation."""
    print(f"\n== Decoding sweep (in-process, one model per thread count, best of "
          f"{res['repeats']}): sample_audio {res['audio_seconds_sample']:.1f} s, extra "
          f"{res['audio_seconds_extra']:.1f} s ==")
    rows = [
        [r["name"], str(r["threads"]), f"{r['seconds']:.2f}", f"{r['rtf']:.3f}",
         f"{r['seconds_sample']:.2f}", f"{r['seconds_extra']:.2f}",
         pct(r["wer_sample"]), pct(r["wer_extra"])]
        for r in res["rows"]
    ]
    print(table(["choice", "thr", "total s", "RTF", "sample s", "extra s", "WER sample",
                 "WER extra"], rows))
    tol = 100 * res["wer_tolerance"]
    print(f"recommended (fastest with WER no worse than '{res['reference']}', within {tol:.1f}"
          f" points): {res['recommended']}, i.e. DecodeOptions changes "
          f"{res['recommended_delta'] or 'none'}; {res['recommended_vs_current_speed']:.2f}x "
          f"the current speed, {res['recommended_vs_reference_speed']:.2f}x the reference's")
    print(f"fastest with WER no worse than the current defaults: "
          f"{res['fastest_no_worse_than_current']} "
          f"({res['fastest_no_worse_than_current_delta'] or 'no change'})")


def parse_candidate(text: str) -> dict[str, Any]:
    """``beam_size=5,condition_on_previous_text=true`` as DecodeOptions field values."""
    fields = {f.name: f.type for f in dataclasses.fields(DecodeOptions)}
    out: dict[str, Any] = {}
    for part in text.split(","):
        name, _, raw = part.partition("=")
        name = name.strip()
        if name not in fields:
            raise SystemExit(f"--candidate: {name!r} is not a DecodeOptions field")
        kind = str(fields[name])
        if "bool" in kind:
            out[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif "int" in kind:
            out[name] = int(raw)
        elif "float" in kind:
            out[name] = float(raw)
        else:
            out[name] = raw.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run the parts asked for, print the tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wct2", type=Path, default=DEFAULT_WCT2,
                        help=f"whisper-ctranslate2 executable (default {DEFAULT_WCT2})")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="extra recording for the batch (repeatable), e.g. jfk.flac")
    parser.add_argument("--samples", type=Path, default=SAMPLES,
                        help="folder with scripts.toml and its clips")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N sample clips (quick runs)")
    parser.add_argument("--threads", type=int, default=DecodeOptions().cpu_threads)
    parser.add_argument("--rounds", type=int, default=2,
                        help="pipeline/wct2 rounds (alternating order)")
    parser.add_argument("--repeats", type=int, default=2, help="sweep repeats (best kept)")
    parser.add_argument("--wer-tolerance", type=float, default=0.0,
                        help="WER slack when recommending (0.005 = half a point; default none)")
    parser.add_argument("--skip-cli", action="store_true", help="skip pipeline vs wct2")
    parser.add_argument("--skip-sweep", action="store_true", help="skip the decoding sweep")
    parser.add_argument("--choices", default="",
                        help="only sweep choices whose name contains one of these "
                             "';'-separated strings (plus the reference and current)")
    parser.add_argument("--candidate", default="",
                        help="DecodeOptions changes to run the pipeline with too, e.g. "
                             "'beam_size=5,min_silence_ms=1000' (default: the sweep's pick)")
    parser.add_argument("--no-grid", action="store_true",
                        help="sweep single changes only, not the beam x VAD x conditioning grid")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    for extra in args.extra:
        if not extra.is_file():
            parser.error(f"--extra {extra}: no such file")
    if not args.skip_cli and not args.wct2.exists():
        print(f"whisper-ctranslate2 not found at {args.wct2}. Install it in its own venv:\n"
              f"    {INSTALL_WCT2}\nthen pass --wct2 /tmp/wct2-venv/bin/whisper-ctranslate2 "
              "(or use --skip-cli).", file=sys.stderr)
        return 2
    clips = load_clips(args.samples, args.extra, args.limit)
    log(f"{len(clips)} files, {sum(c.duration for c in clips):.1f} s of audio")
    result: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_avg": os.getloadavg()}
    candidate: dict[str, Any] | None = None
    if not args.skip_sweep:
        options = DecodeOptions(cpu_threads=args.threads)
        result["sweep"] = run_sweep(
            clips, options, args.repeats, args.wer_tolerance, not args.no_grid, log,
            [o.strip() for o in args.choices.split(";") if o.strip()],
        )
        candidate = result["sweep"]["recommended_delta"] or None
        if not args.json:
            print_sweep(result["sweep"])
    if args.candidate:
        candidate = parse_candidate(args.candidate)
    if not args.skip_cli:
        result["cli"] = compare_cli(clips, args.wct2, args.threads, args.rounds, log, candidate)
        if not args.json:
            print_cli(result["cli"])
    result["load_avg_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"\nload average at start {result['load_avg'][0]:.2f}, at end "
              f"{result['load_avg_end'][0]:.2f} on {result['cpu_count']} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
