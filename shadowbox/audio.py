"""Reading recordings: decode any common format to 16 kHz mono float32, pick a channel, hash.

PyAV (bundled with faster-whisper, with its own FFmpeg) does the decoding, so WAV, FLAC,
MP3, M4A/AAC and Ogg Vorbis/Opus at any rate, depth and channel count all work without
system codecs. Errors become one-line AudioErrors that name the file and the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000
CHANNELS = ("mix", "left", "right")
# Shorter than this is not a recording anyone can learn from (and is what a truncated file
# or random bytes usually decode to).
MIN_SECONDS = 0.25


@dataclass(frozen=True)
class DecodedAudio:
    """A recording decoded for the speech model: 16 kHz mono samples (float32, or int16 when
    decoded ``compact``)."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def check_path(path: Path) -> Path:
    """Refuse paths that are not readable regular files, with the reason in one line."""
    if not path.exists():
        raise AudioError(f"Could not open recording {path}: no such file")
    if path.is_dir():
        raise AudioError(f"Could not open recording {path}: it is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"Could not open recording {path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"Could not open recording {path}: the file is empty")
    return path


def decode(path: Path, channel: str = "mix", *, compact: bool = False) -> DecodedAudio:
    """Decode a recording to 16 kHz mono, choosing a stereo channel or mixing both.

    Args:
        path: the audio file.
        channel: ``mix`` (average all channels), ``left`` or ``right`` (a mono file gives its
            one channel for either).
        compact: keep the samples as int16 (an hour is 115 MB instead of 230 MB); the
            transcription worker reads them a window at a time through :func:`as_float`.

    Raises AudioError when the file cannot be decoded or holds (almost) no audio.
    """
    samples, _rate = decode_mono(path, channel, compact=compact)
    samples = np.ascontiguousarray(samples)
    audio = DecodedAudio(samples)
    if audio.duration < MIN_SECONDS:
        raise AudioError(
            f"Could not open recording {path}: it holds no audio "
            f"({audio.duration:.2f} s decoded; the file may be truncated or not audio)"
        )
    return audio


class GrowingBuffer:
    """An audio buffer that grows by doubling: one copy of the audio, not a list of chunks.

    float32 by default; int16 (samples scaled by 32767) halves the memory of a long
    recording that is only read a window at a time (see :func:`as_float`).
    """

    def __init__(self, capacity: int, dtype: type[np.floating] | type[np.integer] = np.float32
                 ) -> None:
        self.data = np.empty(max(capacity, SAMPLE_RATE), dtype=dtype)
        self.size = 0

    def extend(self, block: np.ndarray) -> None:
        """Append float samples, doubling the storage when it is full."""
        if self.data.dtype == np.int16:
            block = np.clip(np.rint(block * 32767.0), -32768, 32767)
        need = self.size + len(block)
        if need > len(self.data):
            bigger = np.empty(max(need, len(self.data) * 2), dtype=self.data.dtype)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger
        self.data[self.size : need] = block
        self.size = need

    def result(self) -> np.ndarray:
        """The samples so far; a view when little is wasted, else a tight copy."""
        # A view when little is wasted: copying an hour of audio would double the peak.
        if self.size >= len(self.data) * 0.9:
            return self.data[: self.size]
        return self.data[: self.size].copy()


def decode_mono(
    path: Path, channel: str, rate: int | None = SAMPLE_RATE, *, compact: bool = False
) -> tuple[np.ndarray, int]:
    """Decode to mono float32 at ``rate`` (None: the file's own rate); samples and rate.

    The speech model wants 16 kHz and the player the file's own rate, so both share this
    one decoder. ``compact`` stores int16 instead (half the memory; read it with
    :func:`as_float`). Raises AudioError naming the file and the reason.
    """
    if channel not in CHANNELS:
        raise AudioError(f"Channel {channel!r}: choose one of {', '.join(CHANNELS)}")
    check_path(path)
    import av

    try:
        return _decode_frames(path, channel, rate, np.int16 if compact else np.float32)
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioError(
            f"Could not open recording {path}: not a readable audio file ({reason})"
        ) from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise AudioError(f"Could not open recording {path}: {exc}") from None


def _decode_frames(
    path: Path, channel: str, rate: int | None, dtype: type[np.floating] | type[np.integer]
) -> tuple[np.ndarray, int]:
    """Decode, resample and pick the channel frame by frame into one preallocated buffer.

    Peak memory is about one float32 copy of the result (230 MB an hour at 16 kHz), whatever
    the source's rate and channel count.
    """
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise ValueError("the file has no audio stream")
        stream = container.streams.audio[0]
        out_rate = rate or int(stream.codec_context.sample_rate or stream.rate or 0)
        if out_rate <= 0:
            raise ValueError("the file gives no sample rate")
        expected = 0
        if stream.duration is not None and stream.time_base is not None:
            expected = int(float(stream.duration * stream.time_base) * out_rate) + out_rate
        elif container.duration:
            expected = int(container.duration / 1_000_000 * out_rate) + out_rate
        buffer = GrowingBuffer(expected, dtype)
        # Multichannel audio becomes planar stereo and "mix" averages the two sides, which
        # never clips, unlike FFmpeg's own downmix to mono (left + right at 0.707 each).
        # A mono source stays mono: its one channel is every choice.
        mono = stream.codec_context.channels == 1
        layout = "mono" if mono else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)

        def take(frames: list[av.AudioFrame]) -> None:
            for out in frames:
                planes = out.to_ndarray()
                if mono or channel == "left":
                    buffer.extend(planes[0])
                elif channel == "right":
                    buffer.extend(planes[1])
                else:
                    buffer.extend((planes[0] + planes[1]) * 0.5)

        try:
            for frame in container.decode(stream):
                frame.pts = None
                take(resampler.resample(frame))
        except av.error.InvalidDataError:
            # A damaged tail (a recording cut off mid-write): keep what decoded cleanly.
            if buffer.size == 0:
                raise
        take(resampler.resample(None))
    return buffer.result(), out_rate


def as_float(samples: np.ndarray) -> np.ndarray:
    """float32 samples in -1..1, whether ``samples`` is float32 or compact int16."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    return np.asarray(samples, dtype=np.float32)


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the same recording imported twice is recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
