"""Render the sample clips in this folder from their scripts in scripts.toml.

Why this exists: the demo and the tests need recordings of a senior rep's side
of a call whose words, turns and objections are known exactly. Synthesising
them with espeak-ng keeps them reproducible, free of anyone's real voice or
customer data, and small enough to commit. The layout mimics what Shadowbox
records: only the rep speaks, and while the other party talks the microphone
hears silence (2.0 s between turns here), which is what talk-track splitting
looks for.

Each turn is spoken by espeak-ng to a WAV file, trimmed of espeak's own
leading and trailing silence, and joined by sox with 2.0 s gaps plus 0.5 s of
lead-in and tail. The result is normalised and written at the clip's rate and
channel count (16 kHz mono unless the clip asks for, say, 44.1 kHz stereo, so
that importers have to resample and mix down), compressed as the file's
extension says (.ogg: Ogg Vorbis, .flac: FLAC).

Only the standard library is used, plus the espeak-ng and sox programs
(Debian packages `espeak-ng`, `sox`, `libsox-fmt-all` for Vorbis). Output is
deterministic for given espeak-ng and sox versions: sox runs with -R (fixed
random seed, so the Ogg stream serial number does not change) and -D (no
dither).

Usage:
    .venv/bin/python sample_audio/render.py            # all clips
    .venv/bin/python sample_audio/render.py 01_price_roi.ogg ...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts.toml"

GAP_SECONDS = 2.0
"""Silence between turns: the other party speaking, not recorded."""
EDGE_SECONDS = 0.5
"""Silence before the first and after the last turn."""
DEFAULT_RATE = 16000
DEFAULT_CHANNELS = 1
VORBIS_QUALITY = "2"
"""sox -C for Vorbis (-1..10): 2 keeps speech clear at a small size."""
FLAC_LEVEL = "8"
PEAK_DBFS = "-3"


def sox(*args: str) -> None:
    """Run sox repeatably (fixed seed, no dither), quietly, failing loudly."""
    subprocess.run(["sox", "-R", "-D", "-V1", *args], check=True)


def speak(text: str, voice: str, speed: int, out: Path) -> None:
    """Synthesise one turn with espeak-ng and trim its edge silence.

    text: what the rep says.
    voice: an espeak-ng voice name such as "en-us" or "en-gb+f3".
    speed: words per minute.
    out: the WAV file to write (espeak's native 22.05 kHz mono).
    """
    raw = out.with_suffix(".raw.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text],
        check=True,
    )
    # espeak pads with a little digital silence; trim it so gaps are exact.
    sox(
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
    )


def render_clip(clip: dict, workdir: Path) -> Path:
    """Render one clip from its scripts.toml entry into this folder.

    clip: one [[clips]] table (file, voice, speed, turns, optional rate and
        channels).
    workdir: scratch folder for the per-turn WAV files.
    Returns the path of the written file.
    """
    target = HERE / clip["file"]
    suffix = target.suffix.lower()
    if suffix == ".ogg":
        compression = ["-C", VORBIS_QUALITY]
    elif suffix == ".flac":
        compression = ["-C", FLAC_LEVEL, "-b", "16"]
    else:
        raise SystemExit(f"{clip['file']}: use .ogg or .flac")

    pieces: list[str] = []
    turns = clip["turns"]
    for index, turn in enumerate(turns):
        spoken = workdir / f"turn{index}.wav"
        speak(turn["text"], clip["voice"], int(clip["speed"]), spoken)
        if index < len(turns) - 1:
            padded = workdir / f"turn{index}.gap.wav"
            sox(str(spoken), str(padded), "pad", "0", str(GAP_SECONDS))
            spoken = padded
        pieces.append(str(spoken))

    rate = str(clip.get("rate", DEFAULT_RATE))
    channels = str(clip.get("channels", DEFAULT_CHANNELS))
    target.unlink(missing_ok=True)
    sox(
        *pieces,
        *compression,
        str(target),
        "pad",
        str(EDGE_SECONDS),
        str(EDGE_SECONDS),
        "gain",
        "-n",
        PEAK_DBFS,
        "rate",
        "-v",
        rate,
        "channels",
        channels,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    """Render every clip, or only the files named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="clip file names to render (default: all)")
    args = parser.parse_args(argv)

    clips = tomllib.loads(SCRIPTS.read_text(encoding="utf-8"))["clips"]
    unknown = set(args.files) - {clip["file"] for clip in clips}
    if unknown:
        parser.error(f"not in scripts.toml: {', '.join(sorted(unknown))}")
    for clip in clips:
        if args.files and clip["file"] not in args.files:
            continue
        with tempfile.TemporaryDirectory(prefix="shadowbox-render-") as tmp:
            path = render_clip(clip, Path(tmp))
        print(f"{path.name}: {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
