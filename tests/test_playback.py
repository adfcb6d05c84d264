"""The Player: decoding at the file's rate, WSOLA speed without pitch change, skip-silence,
seeking, and sound that really reaches the PulseAudio null sink (recorded from its monitor)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from shadowbox.errors import AudioError, DeviceError
from shadowbox.playback import Player, Span, load_audio, merge_spans, stretch

from .conftest import SAMPLES

RATE = 16000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amp: float = 0.3) -> np.ndarray:
    """A sine tone: its pitch is easy to measure after time-stretching."""
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency in ``samples`` (Hz)."""
    windowed = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.argmax(spectrum) * rate / len(samples))


def _pulse_server() -> str | None:
    """The running PulseAudio server's address, found before the tests hide the user's config.

    Clients find the server through a link in the user's config folder, which the isolated
    test environment replaces; PULSE_SERVER points them straight at it instead.
    """
    if os.environ.get("PULSE_SERVER"):
        return os.environ["PULSE_SERVER"]
    try:
        out = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        if line.startswith("Server String:"):
            return line.split(":", 1)[1].strip()
    return None


PULSE_SERVER = _pulse_server()


def require_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip without the null-sink devices; in CI (env CI set) that is a failure instead."""
    problem = None
    if PULSE_SERVER:
        monkeypatch.setenv("PULSE_SERVER", PULSE_SERVER)
    try:
        import sounddevice as sd

        try:
            sd.query_devices(kind="output")
        except sd.PortAudioError:
            # PortAudio listed the devices before PULSE_SERVER was set: list them again.
            sd._terminate()
            sd._initialize()
        sd.query_devices(kind="output")
        sd.query_devices(kind="input")
    except Exception as exc:  # PortAudio missing, no devices: both mean "no sound here"
        problem = f"no audio devices ({exc})"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the PulseAudio null sink: {problem}")
        pytest.skip(problem)


@pytest.fixture
def audio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that play or record need the PulseAudio null sink."""
    require_audio(monkeypatch)


class Monitor:
    """Records the default input (the null sink's monitor: what is played) in the background."""

    def __init__(self, rate: int = RATE) -> None:
        self.rate = rate
        self.blocks: list[tuple[float, np.ndarray]] = []
        self._lock = threading.Lock()
        self._stream: Any = None

    def _callback(self, indata: np.ndarray, frames: int, info: object, status: object) -> None:
        with self._lock:
            self.blocks.append((time.perf_counter(), indata[:, 0].copy()))

    def __enter__(self) -> Monitor:
        import sounddevice as sd

        self._stream = sd.InputStream(samplerate=self.rate, channels=1, dtype="float32",
                                      callback=self._callback, latency="low")
        self._stream.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._stream is not None
        self._stream.stop()
        self._stream.close()

    def audio_since(self, since: float) -> np.ndarray:
        """What arrived after ``since`` (a perf_counter time)."""
        with self._lock:
            parts = [b for t, b in self.blocks if t >= since]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def first_sound_after(self, since: float, threshold: float = 0.02) -> float | None:
        """When sound (a sample above ``threshold``) first arrived after ``since``."""
        with self._lock:
            blocks = [(t, b) for t, b in self.blocks if t >= since]
        for arrived, block in blocks:
            loud = np.nonzero(np.abs(block) > threshold)[0]
            if len(loud):
                return arrived - (len(block) - loud[0]) / self.rate
        return None

    def wait_for_sound(self, since: float, timeout: float = 5.0) -> float | None:
        """Wait until sound arrives after ``since``; returns when it did, or None."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            at = self.first_sound_after(since)
            if at is not None:
                return at
            time.sleep(0.02)
        return None


def running(player: Player, timeout: float = 5.0) -> Player:
    """Wait until the sound server takes audio from the player's stream (a loaded server can
    take a second or more to start a new stream; that is its latency, not the player's)."""
    deadline = time.monotonic() + timeout
    while not player.device_running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert player.device_running, "the output stream never started"
    return player


def positions(player: Player, seconds: float) -> list[float]:
    """The player's position sampled every 10 ms for ``seconds``."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(player.position)
        time.sleep(0.01)
    return out


@pytest.fixture
def player_on_tone(audio: None) -> Iterator[Player]:
    """A player over 6 s of a 440 Hz tone on the default output, its stream running."""
    player = Player(tone(6.0), RATE)
    yield running(player)
    player.close()


# ---------------------------------------------------------------------- no device needed


@pytest.mark.parametrize("speed", [0.75, 1.25, 1.5, 2.0])
def test_stretch_changes_length_not_pitch(speed: float) -> None:
    source = tone(3.0)
    out = stretch(source, RATE, speed)
    assert len(out) == pytest.approx(len(source) / speed, rel=0.02)
    middle = out[len(out) // 4 : 3 * len(out) // 4]
    assert dominant(middle, RATE) == pytest.approx(440.0, abs=6.0)


def test_stretch_keeps_a_steady_level() -> None:
    """Frames overlap-add to unity gain: no tremolo, no clicks from misaligned periods."""
    out = stretch(tone(3.0), RATE, 1.5)
    hop = RATE // 50
    middle = out[RATE // 4 : -RATE // 4]
    rms = [float(np.sqrt(np.mean(middle[i : i + hop] ** 2)))
           for i in range(0, len(middle) - hop, hop)]
    expected = 0.3 / np.sqrt(2)
    assert min(rms) > 0.9 * expected and max(rms) < 1.1 * expected


def test_merge_spans_pads_clips_and_merges() -> None:
    spans = merge_spans([(5.0, 6.0), (0.1, 2.0), (2.2, 3.0), (9.9, 12.0)], duration=10.0,
                        pad=0.15)
    assert spans == [Span(0.0, 3.15), Span(4.85, 6.15), Span(9.75, 10.0)]


def test_load_audio_keeps_the_files_rate_and_mixes_to_mono() -> None:
    samples, rate = load_audio(SAMPLES / "12_timing_authority_fiscal_year.ogg")
    assert rate == 48000
    assert len(samples) / rate == pytest.approx(sf.info(
        str(SAMPLES / "12_timing_authority_fiscal_year.ogg")).duration, abs=0.05)
    stereo, rate = load_audio(SAMPLES / "09_rapport_conference.flac")
    assert rate == 44100 and stereo.ndim == 1
    left, _ = load_audio(SAMPLES / "09_rapport_conference.flac", "left")
    assert len(left) == len(stereo)


def test_load_audio_refuses_what_is_not_audio(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp3"
    fake.write_text("these are meeting notes, not audio\n" * 20)
    with pytest.raises(AudioError, match=r"notes\.mp3"):
        load_audio(fake)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.ogg")


def test_a_missing_output_device_is_a_clear_device_error() -> None:
    with pytest.raises(DeviceError, match="No audio output") as caught:
        Player(tone(1.0), RATE, device="no such speaker anywhere")
    assert "browsing and search still work" in str(caught.value)


# ---------------------------------------------------------------------- on the null sink


@pytest.mark.audio
def test_playback_reaches_the_sink_quickly(player_on_tone: Player) -> None:
    with Monitor() as monitor:
        time.sleep(0.5)
        pressed = time.perf_counter()
        player_on_tone.play()
        arrived = monitor.wait_for_sound(pressed)
        time.sleep(0.6)
        heard = monitor.audio_since(pressed)
    assert arrived is not None, "nothing arrived at the sink's monitor"
    assert arrived - pressed < 0.5
    assert dominant(heard[-RATE // 2 :], RATE) == pytest.approx(440.0, abs=8.0)


@pytest.mark.audio
def test_speed_keeps_pitch_on_the_sink(player_on_tone: Player) -> None:
    player_on_tone.set_speed(1.5)
    with Monitor() as monitor:
        time.sleep(0.3)
        pressed = time.perf_counter()
        player_on_tone.play()
        arrived = monitor.wait_for_sound(pressed)
        assert arrived is not None
        time.sleep(1.0)
        heard = monitor.audio_since(arrived + 0.1)
    assert player_on_tone.speed == 1.5
    # Pitch: still 440 Hz (a resampling speed-up would be 660 Hz). The tempo itself is
    # checked exactly, without a device, by test_stretch_changes_length_not_pitch.
    assert dominant(heard[: RATE // 2], RATE) == pytest.approx(440.0, abs=8.0)


@pytest.mark.audio
def test_seek_pause_and_position(player_on_tone: Player) -> None:
    player_on_tone.seek(2.0)
    assert player_on_tone.position == pytest.approx(2.0, abs=0.01)
    player_on_tone.play()
    seen = positions(player_on_tone, 1.0)
    player_on_tone.pause()
    paused_at = player_on_tone.position
    assert min(seen) >= 2.0 - 1e-6 and seen == sorted(seen)
    assert 2.2 < paused_at < 3.2
    time.sleep(0.3)
    assert player_on_tone.position == pytest.approx(paused_at, abs=0.01)
    player_on_tone.skip(-5.0)
    assert player_on_tone.position == 0.0


@pytest.mark.audio
def test_skip_silence_plays_only_the_talk_tracks(audio: None) -> None:
    samples = np.concatenate([tone(1.0), np.zeros(2 * RATE, dtype=np.float32), tone(1.0)])
    with Player(samples, RATE, ranges=[(0.0, 1.0), (3.0, 4.0)]) as player:
        running(player)
        player.set_skip_silence(True)
        player.play(0.5)
        seen = positions(player, 2.0)
    # Played to the end of the first track (padded by 0.15 s), then straight on from the
    # second one: never a moment of the silence between.
    assert max(seen) > 3.0
    assert not [p for p in seen if 1.2 < p < 2.8]


@pytest.mark.audio
def test_the_end_stops_and_play_starts_over(audio: None) -> None:
    with Player(tone(0.5), RATE) as player:
        running(player)
        player.play()
        deadline = time.monotonic() + 5
        while player.playing and time.monotonic() < deadline:
            time.sleep(0.05)
        state = player.state()
        assert state.ended and not state.playing and state.position == state.duration
        player.play()
        time.sleep(0.1)
        assert player.playing and player.position < 0.3
