"""Benchmark: a long recording at 48 kHz, as ``shadowbox record`` makes it.

What it measures, on a PulseAudio null sink of its own (so other people's audio on the shared
sink stays out, and its own speech stays out of theirs) while the sample clips play into it
in a loop:

1. **Key press to first sample.** From the moment a session starts (sidecar, WAV and stream
   are created then) to the first block of audio arriving from the device, over several
   trials with the sink awake. A few trials on an idle null sink are reported apart: an
   idle null sink only wakes every 2 s, a PulseAudio artifact a real microphone does not
   have. **Target: <= 200 ms.**
2. **The recording process.** A child process records for ``--minutes`` (10 by default) at
   48 kHz with :class:`shadowbox.recording.RecordingSession`, polling the level meter and
   warnings ten times a second as the CLI's live line does. Between the first block and the
   stop it measures its CPU time (getrusage, all threads) and resident memory (VmRSS every
   second). **Targets: CPU <= 3% of one core, 0 overflows, RSS growth <= 20 MB.**
3. **Storage.** Bytes per minute of the WAV written while recording and of the compacted
   16 kHz FLAC stored with the call, and how far the speech model's input decoded from the
   FLAC is from the input decoded from the WAV (at most half a 16-bit step: rounding).
   For comparison it also encodes the WAV as Ogg Opus at 32 kbit/s.
4. **Recognition on the compacted audio** (``--wer``, a few minutes with the real model):
   every sample clip as a 48 kHz 16-bit WAV, as the device would deliver it, compacted to
   FLAC and encoded as Opus; the word error rate of each against the clip's script (using
   sample_audio/check.py's normalisation), and how often its transcript equals the WAV's.
   **Target: the stored format recognises as well as the WAV.**

Usage::

    .venv/bin/python benchmarks/capture.py [--minutes 10] [--trials 8] [--wer] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"
RATE = 48000
TARGET_CPU = 3.0
TARGET_RSS_MB = 20.0
TARGET_LATENCY = 0.200


def rss_mb() -> float:
    """This process's resident memory in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(library: Path, seconds: float) -> None:
    """Record for ``seconds`` like the CLI does, then print the figures as JSON."""
    from shadowbox.config import Settings
    from shadowbox.library import Library
    from shadowbox.recording import RecordingSession, SignalWatch

    lib = Library.open(library)
    session = RecordingSession(
        lib, Settings(library=library), consent="verbal", title="Benchmark", samplerate=RATE
    )
    session.start()
    recorder = session.recorder
    while recorder.first_block_at is None:
        time.sleep(0.01)
    watch = SignalWatch()
    cpu0, wall0, rss0 = cpu_seconds(), time.monotonic(), rss_mb()
    rss_max = rss0
    next_rss = wall0 + 1.0
    while recorder.elapsed < seconds and recorder.fault is None:
        watch.update(recorder.level(), time.monotonic())
        time.sleep(0.1)
        now = time.monotonic()
        if now >= next_rss:
            rss_max = max(rss_max, rss_mb())
            next_rss = now + 1.0
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    # A second name for the WAV: the session deletes its own once the call is stored.
    kept = library.parent / "recorded.wav"
    os.link(session.wav_path, kept)
    stopping = time.monotonic()
    saved = session.stop()
    stopped = time.monotonic()
    print(json.dumps({
        "cpu_percent": (cpu1 - cpu0) / (wall1 - wall0) * 100,
        "rss_start_mb": rss0,
        "rss_max_mb": rss_max,
        "overflows": saved.overflows,
        "dropped_samples": saved.dropped_samples,
        "fault": saved.fault.message if saved.fault else None,
        "duration": saved.duration,
        "samplerate": recorder.samplerate,
        "wav_file": str(kept),
        "compacted_bytes": saved.audio_bytes,
        "audio_format": saved.audio_format,
        "stop_seconds": stopped - stopping,
        "audio_file": str(lib.audio_file(saved.call)),
    }))


def latency_trials(folder: Path, trials: int, pause: float) -> list[float]:
    """Seconds from starting a session to its first block of audio, per trial."""
    from shadowbox.config import Settings
    from shadowbox.library import Library
    from shadowbox.recording import RecordingSession

    results: list[float] = []
    for i in range(trials):
        root = folder / f"latency-{pause}-{i}"
        with Library.open(root) as lib:
            session = RecordingSession(lib, Settings(library=root), consent="verbal",
                                       samplerate=RATE)
            pressed = time.monotonic()
            session.start()
            recorder = session.recorder
            while recorder.first_block_at is None and time.monotonic() - pressed < 5:
                time.sleep(0.002)
            if recorder.first_block_at is not None:
                results.append(recorder.first_block_at - pressed)
            while recorder.frames == 0:
                time.sleep(0.01)
            session.stop()
        time.sleep(pause)
    return results


class SpeechLoop:
    """Plays every sample clip into the sink, over and over, until stopped."""

    def __init__(self, folder: Path) -> None:
        import numpy as np
        import soundfile as sf

        from shadowbox.audio import decode

        clips = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".ogg", ".flac"))
        speech = np.concatenate([decode(p).samples for p in clips])
        self.path = folder / "speech.wav"
        sf.write(str(self.path), speech, 16000, subtype="PCM_16")
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(["paplay", "--latency-msec=300", str(self.path)])
            self._proc.wait()

    def start(self) -> None:
        """Start playing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop playing."""
        self._stop.set()
        if self._proc is not None:
            self._proc.kill()
        self._thread.join(5)


def opus_bytes(wav: Path, target: Path, bitrate: int = 32000) -> int:
    """The size of the recording as Ogg Opus (the smaller codec that was not chosen)."""
    import av
    import numpy as np
    import soundfile as sf

    with target.open("wb") as out, sf.SoundFile(str(wav)) as src:
        container = av.open(out, mode="w", format="ogg")
        stream: Any = container.add_stream("libopus", rate=48000)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        for block in src.blocks(blocksize=src.samplerate, dtype="int16", always_2d=True):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block[:, :1].T), format="s16p", layout="mono"
            )
            frame.sample_rate = src.samplerate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
    return target.stat().st_size


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    parser.add_argument("--trials", type=int, default=8, help="key-press latency trials")
    parser.add_argument("--wer", action="store_true",
                        help="also compare recognition on WAV, FLAC and Opus (slow)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), float(args.child[1]))
        return

    sink = f"shadowbox_bench_{os.getpid()}"
    module = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={sink}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    os.environ["PULSE_SINK"] = sink
    os.environ["PULSE_SOURCE"] = f"{sink}.monitor"
    awake: subprocess.Popen[bytes] | None = None
    loop: SpeechLoop | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="shadowbox-capture-bench-") as tmp:
            folder = Path(tmp)
            idle = latency_trials(folder, 3, pause=3.0)
            awake = subprocess.Popen(
                ["pacat", "--playback", "--raw", "--latency-msec=20", "--format=s16le",
                 "--rate=48000", "--channels=1", "/dev/zero"],
            )
            loop = SpeechLoop(folder)
            loop.start()
            time.sleep(2.5)
            live = latency_trials(folder, args.trials, pause=0.5)
            library = folder / "library"
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(library), str(args.minutes * 60)],
                capture_output=True, text=True,
            )
            if proc.returncode != 0:
                sys.exit(f"the recording process failed:\n{proc.stderr}")
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            loop.stop()
            loop = None
            figures.update(storage(figures))
    finally:
        if loop is not None:
            loop.stop()
        if awake is not None:
            awake.terminate()
        subprocess.run(["pactl", "unload-module", module], check=False)
    figures["latency_awake"] = live
    figures["latency_idle"] = idle
    figures["rss_growth_mb"] = figures["rss_max_mb"] - figures["rss_start_mb"]
    if args.wer:
        figures["recognition"] = recognition()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    report(figures)


def storage(figures: dict[str, Any]) -> dict[str, Any]:
    """Sizes per minute, the Opus comparison, and whether the model hears the same samples."""
    import numpy as np

    from shadowbox.audio import decode

    wav = Path(figures["wav_file"])
    compacted = Path(figures["audio_file"])
    minutes = figures["duration"] / 60
    opus = opus_bytes(wav, wav.with_suffix(".opus"))
    from_wav, from_flac = decode(wav).samples, decode(compacted).samples
    steps = float(np.abs(from_wav - from_flac).max()) * 32768 if len(from_wav) == len(
        from_flac) else float("inf")
    return {
        "wav_kb_per_minute": wav.stat().st_size / minutes / 1024,
        "compacted_kb_per_minute": figures["compacted_bytes"] / minutes / 1024,
        "opus_kb_per_minute": opus / minutes / 1024,
        "model_input_max_difference_16bit_steps": steps,
    }


def recognition() -> dict[str, Any]:
    """Word error rates of the sample clips from a 48 kHz WAV, its FLAC and an Opus copy."""
    import importlib.util
    import tomllib

    import av
    import numpy as np
    import soundfile as sf

    from shadowbox.audio import decode
    from shadowbox.recording import compact
    from shadowbox.transcribe import Transcriber

    spec = importlib.util.spec_from_file_location("check", SAMPLES / "check.py")
    assert spec is not None and spec.loader is not None
    check = importlib.util.module_from_spec(spec)
    sys.modules["check"] = check  # its dataclasses look their module up while it loads
    spec.loader.exec_module(check)
    scripts = tomllib.loads((SAMPLES / "scripts.toml").read_text(encoding="utf-8"))
    model = Transcriber()
    rates: dict[str, list[float]] = {"wav": [], "flac": [], "opus": []}
    same = {"flac": 0, "opus": 0}
    with tempfile.TemporaryDirectory(prefix="shadowbox-capture-wer-") as tmp:
        for clip in scripts["clips"]:
            wav = Path(tmp) / "clip.wav"
            with av.open(str(SAMPLES / clip["file"])) as container:
                resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
                parts = []
                for frame in container.decode(audio=0):
                    frame.pts = None
                    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
                parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
            wav.unlink(missing_ok=True)
            sf.write(str(wav), np.concatenate(parts), RATE, subtype="PCM_16")
            flac, opus = Path(tmp) / "clip.flac", Path(tmp) / "clip.opus"
            compact(wav, flac)
            opus_bytes(wav, opus)
            script = check.normalise(" ".join(t["text"] for t in clip["turns"]))
            heard = {}
            for name, path in (("wav", wav), ("flac", flac), ("opus", opus)):
                text = " ".join(s.text for s in model.transcribe(decode(path).samples))
                heard[name] = check.normalise(text)
                rates[name].append(check.wer(script, heard[name]))
            for name in same:
                same[name] += heard[name] == heard["wav"]
    return {
        "clips": len(scripts["clips"]),
        "wer": {name: float(np.mean(values)) for name, values in rates.items()},
        "same_transcript_as_wav": same,
    }


def report(f: dict[str, Any]) -> None:
    """Print the figures against the targets."""

    def mark(ok: bool) -> str:
        return "ok  " if ok else "MISS"

    live = f["latency_awake"]
    worst = max(live) if live else float("nan")
    print(f"Recording: {f['duration'] / 60:.1f} min at {f['samplerate']} Hz, "
          f"{f['audio_format']}, stop and compaction took {f['stop_seconds']:.1f} s")
    print(f"[{mark(f['cpu_percent'] <= TARGET_CPU)}] CPU of the recording process: "
          f"{f['cpu_percent']:.2f}% of one core (target <= {TARGET_CPU:.0f}%)")
    print(f"[{mark(f['overflows'] == 0)}] input overflows: {f['overflows']} "
          f"({f['dropped_samples']} samples dropped; target 0)")
    print(f"[{mark(f['rss_growth_mb'] <= TARGET_RSS_MB)}] RSS growth: "
          f"{f['rss_growth_mb']:.1f} MB ({f['rss_start_mb']:.0f} -> {f['rss_max_mb']:.0f} MB; "
          f"target <= {TARGET_RSS_MB:.0f} MB)")
    print(f"[{mark(worst <= TARGET_LATENCY)}] key press to first sample: median "
          f"{statistics.median(live) * 1000:.0f} ms, worst {worst * 1000:.0f} ms over "
          f"{len(live)} trials (target <= {TARGET_LATENCY * 1000:.0f} ms)")
    idle = f["latency_idle"]
    if idle:
        print(f"       on an idle null sink: {', '.join(f'{x * 1000:.0f}' for x in idle)} ms "
              "(PulseAudio wakes an idle null sink every 2 s; a real microphone does not wait)")
    print(f"Storage per minute: WAV while recording {f['wav_kb_per_minute']:.0f} KB, stored "
          f"FLAC 16 kHz {f['compacted_kb_per_minute']:.0f} KB "
          f"({f['wav_kb_per_minute'] / f['compacted_kb_per_minute']:.1f}x smaller); "
          f"Ogg Opus 32 kbit/s would be {f['opus_kb_per_minute']:.0f} KB")
    rec = f.get("recognition")
    if rec:
        wer = rec["wer"]
        print(f"[{mark(wer['flac'] <= wer['wav'] + 0.01)}] recognition on {rec['clips']} sample "
              f"clips, WER against the scripts: WAV {wer['wav']:.3f}, stored FLAC "
              f"{wer['flac']:.3f}, Opus {wer['opus']:.3f}; transcript identical to the WAV's: "
              f"FLAC {rec['same_transcript_as_wav']['flac']}, "
              f"Opus {rec['same_transcript_as_wav']['opus']} of {rec['clips']}")
    print("The model's input decoded from the FLAC differs from the WAV's by at most "
          f"{f['model_input_max_difference_16bit_steps']:.2f} of a 16-bit step")


if __name__ == "__main__":
    main()
