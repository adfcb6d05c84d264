"""Write the bad-input fixtures in this folder, deterministically.

Why these exist: importing and transcribing must fail cleanly, with a message
that names the file and the problem, on inputs that are not usable audio.
Each fixture is a different way of being wrong:

- text.mp3: a plain text file wearing an audio extension;
- empty.wav: zero bytes;
- truncated.wav: a valid 44-byte header of a 16-bit 16 kHz mono WAV that
  promises one second of samples, and then ends (cut off after the header);
- random.flac: 4096 pseudo-random bytes from a seeded generator, so the file
  is noise to a decoder but identical on every run.

Run `python tests/data/bad/make_bad.py` to regenerate them (stdlib only).
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611
RATE = 16000
CHANNELS = 1
BITS = 16


def wav_header(data_bytes: int) -> bytes:
    """A canonical 44-byte PCM WAV header announcing `data_bytes` of samples."""
    block_align = CHANNELS * BITS // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * block_align, block_align, BITS)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def main() -> None:
    """Write every fixture into this folder."""
    (HERE / "text.mp3").write_text(
        "This is not an MP3 file.\n"
        "It is plain text with an .mp3 extension, used to check that Shadowbox\n"
        "refuses it with a clear message instead of a traceback.\n",
        encoding="utf-8",
    )
    (HERE / "empty.wav").write_bytes(b"")
    header = wav_header(data_bytes=RATE * CHANNELS * BITS // 8)
    assert len(header) == 44
    (HERE / "truncated.wav").write_bytes(header)
    (HERE / "random.flac").write_bytes(random.Random(SEED).randbytes(4096))


if __name__ == "__main__":
    main()
