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
    """A recording decoded for the speech model: 16 kHz mono float32 samples."""

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


def decode(path: Path, channel: str = "mix") -> DecodedAudio:
    """Decode a recording to 16 kHz mono, choosing a stereo channel or mixing both.

    Args:
        path: the audio file.
        channel: ``mix`` (average all channels), ``left`` or ``right`` (a mono file gives its
            one channel for either).

    Raises AudioError when the file cannot be decoded or holds (almost) no audio.
    """
    if channel not in CHANNELS:
        raise AudioError(f"Channel {channel!r}: choose one of {', '.join(CHANNELS)}")
    check_path(path)
    # Imported lazily: faster_whisper pulls in ctranslate2 and onnxruntime, which listing
    # commands should not pay for.
    import av
    from faster_whisper.audio import decode_audio

    try:
        if channel == "mix":
            samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        else:
            left, right = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=True)
            samples = left if channel == "left" else right
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioError(
            f"Could not open recording {path}: not a readable audio file ({reason})"
        ) from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise AudioError(f"Could not open recording {path}: {exc}") from None
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    audio = DecodedAudio(samples)
    if audio.duration < MIN_SECONDS:
        raise AudioError(
            f"Could not open recording {path}: it holds no audio "
            f"({audio.duration:.2f} s decoded; the file may be truncated or not audio)"
        )
    return audio


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the same recording imported twice is recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
