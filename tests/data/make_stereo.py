"""Write tests/data/stereo_lr.wav: different speech on the left and right channels.

Why this exists: some recorders put the rep's microphone on one channel of a
stereo file (and sometimes the other party, or nothing, on the other).
Choosing a channel must really choose it, so each channel says something
different that the model can tell apart:

- left:  "the left channel talks about pricing"   (espeak-ng voice en-gb-x-rp)
- right: "the right channel discusses integration" (espeak-ng voice en-us)

Both start together after a short lead-in and the shorter one is padded with
silence; the file is 16-bit PCM, 16 kHz, stereo, about 4.2 s (under 300 KB).
The voices, speed and edges were picked because tiny.en hears both
sentences exactly with them; with en-us on the left it often heard
"pricing" as "rising".
It is made with espeak-ng and sox (stdlib otherwise) and is byte-identical on
every run for given espeak-ng and sox versions.

Run `python tests/data/make_stereo.py` to regenerate it.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "stereo_lr.wav"
LEFT = ("the left channel talks about pricing", "en-gb-x-rp")
RIGHT = ("the right channel discusses integration", "en-us")
SPEED = 145
LEAD_SECONDS = "0.8"
TAIL_SECONDS = "1.0"


def speak(text: str, voice: str, out: Path) -> None:
    """Say `text` with espeak-ng into a 16 kHz mono WAV, trimmed and padded."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(SPEED), "-w", str(raw), text], check=True)
    subprocess.run(
        [
            "sox",
            "-R",
            "-D",
            "-V1",
            str(raw),
            str(out),
            "silence",
            "1",
            "0.01",
            "0.1%",
            "reverse",
            "silence",
            "1",
            "0.01",
            "0.1%",
            "reverse",
            "pad",
            LEAD_SECONDS,
            TAIL_SECONDS,
            "gain",
            "-n",
            "-3",
            "rate",
            "-v",
            "16000",
        ],
        check=True,
    )


def main() -> None:
    """Render both channels and merge them into stereo_lr.wav."""
    with tempfile.TemporaryDirectory(prefix="shadowbox-stereo-") as tmp:
        left, right = Path(tmp) / "left.wav", Path(tmp) / "right.wav"
        speak(*LEFT, left)
        speak(*RIGHT, right)
        # -M merges the inputs as channels (first = left); the shorter is padded.
        subprocess.run(
            [
                "sox",
                "-R",
                "-D",
                "-V1",
                "-M",
                str(left),
                str(right),
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(TARGET),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
