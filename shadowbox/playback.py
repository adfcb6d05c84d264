"""Playback of a call: a decoded buffer played through a sounddevice OutputStream.

The call's audio is decoded once, at the file's own rate, into memory. A render thread
turns it into what should be heard (time-stretched for 0.75x-2x without changing pitch,
silences between talk tracks skipped on request) and writes it into a ring buffer a fraction
of a second ahead; the audio callback only copies from that ring. Seeking, pausing and
changing speed throw away what was rendered ahead, so a key is heard within one render
chunk plus the device's latency.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .audio import decode_mono
from .errors import AudioError, DeviceError

SPEEDS = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
"""The speeds a person steps through; any value between the ends is accepted."""
MIN_SPEED = SPEEDS[0]
MAX_SPEED = SPEEDS[-1]

# Rendered audio kept ahead of the callback: enough to ride out a busy moment of the
# interpreter, small enough that it never has to be heard after a key.
_AHEAD_SECONDS = 0.25
_RING_SECONDS = 2.0
# Output produced per render step (kept short so a seek is heard quickly).
_CHUNK_SECONDS = 0.02
# A talk track's range is widened by this much on each side in skip-silence mode so the
# first and last syllables are not clipped.
_RANGE_PAD = 0.15


@dataclass(frozen=True)
class PlayerState:
    """What the player bar shows: where playback is and how it is set."""

    position: float
    """Seconds into the recording of what is being heard now."""
    duration: float
    """Length of the recording in seconds."""
    playing: bool
    speed: float
    skip_silence: bool
    ended: bool
    """Playback reached the end of the recording (or of its last talk track)."""
    underruns: int
    """Times the device asked for audio the renderer had not produced yet (heard as gaps)."""


@dataclass(frozen=True)
class Span:
    """A stretch of the recording to play, in seconds."""

    start: float
    end: float


def load_audio(path: Path, channel: str = "mix") -> tuple[np.ndarray, int]:
    """Decode a recording at its own sample rate to mono float32 for playback.

    Frames are decoded one by one into a buffer sized from the stream's duration, so the
    peak memory is about one copy of the result (an hour at 48 kHz: 690 MB).

    Args:
        path: the audio file (any format PyAV reads).
        channel: ``mix`` averages the two sides (never clips); ``left``/``right`` keep one
            (the call's own channel, so a stereo recording plays only the side that was
            transcribed). A mono file gives its one channel for every choice.

    Returns the samples and their rate. Raises AudioError naming the file and the reason.
    """
    samples, rate = decode_mono(path, channel, rate=None)
    if len(samples) == 0:
        raise AudioError(f"Could not open recording {path}: it holds no audio")
    return samples, rate


def merge_spans(ranges: Sequence[tuple[float, float]], duration: float,
                pad: float = _RANGE_PAD) -> list[Span]:
    """Widen, clip, sort and merge talk-track ranges into the spans skip-silence plays.

    Args:
        ranges: (start, end) seconds of each talk track.
        duration: the recording's length, to clip to.
        pad: seconds added on both sides of each range.
    """
    spans: list[Span] = []
    for start, end in sorted(ranges):
        s, e = max(0.0, start - pad), min(duration, end + pad)
        if e <= s:
            continue
        if spans and s <= spans[-1].end:
            spans[-1] = Span(spans[-1].start, max(spans[-1].end, e))
        else:
            spans.append(Span(s, e))
    return spans


class Stretcher:
    """WSOLA time-stretching over a buffer, one hop at a time: tempo changes, pitch does not.

    Each output hop overlap-adds a Hann-windowed frame taken near where the nominal read
    position has got to, nudged (within a tolerance) to the offset whose waveform best
    continues the previous frame, so periods line up and no pitch shift or phasing is heard.
    """

    def __init__(self, samples: np.ndarray, sample_rate: int, speed: float, start: int) -> None:
        """Prepare to stretch ``samples`` from sample ``start`` at ``speed`` (1.5 = faster).

        Args:
            samples: mono float32 source.
            sample_rate: its rate (sets frame and search sizes to fixed durations).
            speed: tempo factor, 0.25 to 4.
            start: first source sample to play.
        """
        self.x = samples
        self.speed = float(speed)
        self.hop = max(32, int(sample_rate * 0.015))
        self.frame = 2 * self.hop
        self.tolerance = self.hop // 2
        n = np.arange(self.frame)
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * n / self.frame)).astype(np.float32)
        self.pos = float(start)
        self._prev: int | None = None
        self._tail = np.zeros(self.hop, dtype=np.float32)
        size = self.frame + 2 * self.tolerance + self.frame
        self._fft = 1 << (size - 1).bit_length()

    def slice_at(self, start: int, length: int) -> np.ndarray:
        """``length`` source samples from ``start``, zero-padded outside the buffer."""
        lo, hi = max(start, 0), min(start + length, len(self.x))
        if lo == start and hi == start + length:
            return self.x[lo:hi]
        out = np.zeros(length, dtype=np.float32)
        if hi > lo:
            out[lo - start : hi - start] = self.x[lo:hi]
        return out

    def _best_start(self, nominal: int) -> int:
        if self._prev is None:
            return nominal
        template = self.slice_at(self._prev + self.hop, self.frame)
        lo = nominal - self.tolerance
        region = self.slice_at(lo, self.frame + 2 * self.tolerance)
        spec = np.fft.rfft(region, self._fft) * np.conj(np.fft.rfft(template, self._fft))
        corr = np.fft.irfft(spec, self._fft)[: 2 * self.tolerance + 1]
        power = np.concatenate(([0.0], np.cumsum(region.astype(np.float64) ** 2)))
        energy = power[self.frame : self.frame + 2 * self.tolerance + 1] - power[
            : 2 * self.tolerance + 1
        ]
        score = corr / np.sqrt(energy + 1e-9)
        return lo + int(np.argmax(score))

    def render(self, hops: int) -> tuple[np.ndarray, float, float]:
        """Produce ``hops`` output hops; returns them with the source positions they span.

        The positions (in samples) are nominal: where the read position was before the first
        hop and after the last, which is what a position readout should show.
        """
        out = np.empty(hops * self.hop, dtype=np.float32)
        src_start = self.pos
        for k in range(hops):
            start = self._best_start(round(self.pos))
            frame = self.slice_at(start, self.frame) * self.window
            out[k * self.hop : (k + 1) * self.hop] = self._tail + frame[: self.hop]
            self._tail = frame[self.hop :].copy()
            self._prev = start
            self.pos += self.speed * self.hop
        return out, src_start, self.pos


def stretch(samples: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    """Time-stretch a whole buffer (for tests and offline use); pitch is kept.

    Args:
        samples: mono float32 audio.
        sample_rate: its rate.
        speed: tempo factor; the result is about ``len(samples) / speed`` long.
    """
    st = Stretcher(samples, sample_rate, speed, 0)
    hops = int(np.ceil(len(samples) / (speed * st.hop)))
    out, _, _ = st.render(hops)
    return out


_ALSA_HANDLER: Any = None


def _quiet_alsa() -> None:
    """Stop ALSA printing xrun notices on stderr, where they would draw over a terminal UI.

    The notices are not lost: PortAudio reports underflows to the callback, which counts them.
    """
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None:
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    if name is None:
        _ALSA_HANDLER = False
        return
    try:
        asound = ctypes.cdll.LoadLibrary(name)
        handler_type = ctypes.CFUNCTYPE(
            None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
        )
        _ALSA_HANDLER = handler_type(lambda *args: None)
        asound.snd_lib_error_set_handler(_ALSA_HANDLER)
    except (OSError, AttributeError):
        _ALSA_HANDLER = False


class Player:
    """Plays one recording: play, pause, seek, speed and skip-silence, with a position readout.

    Thread model: the owner (UI) calls the control methods; a render thread produces audio
    ahead into a ring buffer; the PortAudio callback copies from the ring and nothing else.
    Counters shared with the callback are plain ints written by one side only.
    """

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        ranges: Sequence[tuple[float, float]] = (),
        device: int | str | None = None,
        latency: float | str = 0.04,
    ) -> None:
        """Open the output device and start the (silent) stream so a play is heard at once.

        Args:
            samples: mono float32 audio (see :func:`load_audio`).
            sample_rate: its rate; the device (or PulseAudio) resamples if it must.
            ranges: the talk tracks' (start, end) seconds, played alone in skip-silence mode.
            device: a sounddevice output device (index or name); None is the default output.
            latency: the stream latency asked of PortAudio, in seconds; 40 ms keeps a key's
                sound prompt while giving PulseAudio room to breathe on a busy machine.

        Raises DeviceError, saying why, when no output device can be opened.
        """
        if samples.ndim != 1 or len(samples) == 0:
            raise AudioError("Player: expected a non-empty mono buffer")
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.sample_rate = int(sample_rate)
        self.duration = len(self.samples) / self.sample_rate
        self._spans = merge_spans(ranges, self.duration)
        self._skip_silence = False
        self._speed = 1.0
        cap = int(_RING_SECONDS * self.sample_rate)
        self._ring = np.zeros(cap, dtype=np.float32)
        self._cap = cap
        # Written by the callback only.
        self._read = 0
        self._underruns = 0
        self._requested = 0  # frames the device has asked for
        # Written by the render thread only.
        self._write = 0
        self._discard = 0
        self._eof_at: tuple[int, int] | None = None  # (generation, ring position)
        self._rendered_generation = -1
        # Written by the owner; read by the others.
        self._playing = False
        self._ended = False
        self._target: float | None = 0.0  # where the renderer should (re)start, seconds
        self._generation = 0
        self._chunks: deque[tuple[int, int, float, float]] = deque()
        self._chunk_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._stream: Any = None
        self._open_stream(device, latency)
        self._thread = threading.Thread(target=self._render_loop, name="shadowbox-player",
                                         daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        channel: str = "mix",
        ranges: Sequence[tuple[float, float]] = (),
        device: int | str | None = None,
    ) -> Player:
        """Decode a recording and open a player on it (see :func:`load_audio` and ``__init__``)."""
        samples, rate = load_audio(path, channel)
        return cls(samples, rate, ranges=ranges, device=device)

    # ------------------------------------------------------------------ device

    def _open_stream(self, device: int | str | None, latency: float | str) -> None:
        _quiet_alsa()
        try:
            import sounddevice as sd
        except OSError as exc:
            raise DeviceError(
                f"No audio output: the PortAudio library is missing ({exc}); install "
                "libportaudio2"
            ) from None
        try:
            sd.query_devices(device, "output")
        except (ValueError, sd.PortAudioError) as exc:
            named = f"device {device!r}" if device is not None else "a default output device"
            raise DeviceError(
                f"No audio output: cannot use {named} ({exc}). Connect a speaker or headset, "
                "or start PulseAudio; browsing and search still work."
            ) from None
        try:
            self._stream = sd.OutputStream(
                samplerate=self.sample_rate, channels=1, dtype="float32", device=device,
                latency=latency, callback=self._callback,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceError(f"No audio output: the device refused to open ({exc})") from None

    @property
    def device_running(self) -> bool:
        """Whether the device is taking audio steadily, beyond filling its first buffer.

        A sound server may take a moment after the stream opens (over a second on a loaded
        machine); a play before that is heard when it starts.
        """
        return self._requested > (self.output_latency + 0.1) * self.sample_rate

    @property
    def output_latency(self) -> float:
        """Seconds between the callback filling a buffer and it being heard."""
        if self._stream is None:
            return 0.0
        return float(self._stream.latency)

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self._requested += frames
        out = outdata[:, 0]
        if not self._playing:
            out.fill(0)
            return
        if status.output_underflow:
            self._underruns += 1
        r = self._read
        d = self._discard
        if r < d:
            r = d
        avail = self._write - r
        n = frames if avail >= frames else max(avail, 0)
        if n:
            i = r % self._cap
            first = min(n, self._cap - i)
            out[:first] = self._ring[i : i + first]
            if n > first:
                out[first:n] = self._ring[: n - first]
        if n < frames:
            out[n:] = 0
        self._read = r + n
        eof = self._eof_at
        if eof is not None and eof[0] == self._generation and r + n >= eof[1]:
            self._playing = False
            self._ended = True

    # ------------------------------------------------------------------ rendering

    def _render_loop(self) -> None:
        stretcher: Stretcher | None = None
        span_end = self.duration
        generation = -1
        chunk = max(256, int(_CHUNK_SECONDS * self.sample_rate))
        ahead = int(_AHEAD_SECONDS * self.sample_rate)
        while not self._stop:
            if self._generation != generation:
                generation = self._generation
                start = self._target if self._target is not None else 0.0
                start, span_end = self._span_at(start)
                self._restart_ring(generation)
                stretcher = None
                if start < self.duration:
                    stretcher = Stretcher(
                        self.samples, self.sample_rate, self._speed,
                        int(start * self.sample_rate),
                    )
                else:
                    self._eof_at = (generation, self._write)
            if stretcher is None or self._write - max(self._read, self._discard) >= ahead:
                self._wake.wait(0.005)
                self._wake.clear()
                continue
            pos = stretcher.pos / self.sample_rate
            if pos >= span_end:
                nxt, span_end = self._span_at(pos)
                if nxt >= self.duration:
                    self._eof_at = (generation, self._write)
                    stretcher = None
                    continue
                if nxt > pos:
                    stretcher = Stretcher(
                        self.samples, self.sample_rate, self._speed,
                        int(nxt * self.sample_rate),
                    )
            if self._speed == 1.0:
                block, src0, src1 = self._copy_block(stretcher, chunk, span_end)
            else:
                block, src0, src1 = stretcher.render(max(1, chunk // stretcher.hop))
            self._push(block, src0 / self.sample_rate, src1 / self.sample_rate, generation)

    def _copy_block(self, st: Stretcher, chunk: int, span_end: float) -> tuple[
            np.ndarray, float, float]:
        start = int(st.pos)
        end = min(start + chunk, int(span_end * self.sample_rate) + 1, len(self.samples))
        end = max(end, start + 1)
        st.pos = float(end)
        return st.slice_at(start, end - start), float(start), float(end)

    def _span_at(self, t: float) -> tuple[float, float]:
        """Where to play from at ``t`` and where that stretch ends (skip-silence aware)."""
        if not self._skip_silence or not self._spans:
            return min(max(t, 0.0), self.duration), self.duration
        for span in self._spans:
            if t < span.end:
                return max(t, span.start), span.end
        return self.duration, self.duration

    def _restart_ring(self, generation: int) -> None:
        with self._chunk_lock:
            self._chunks.clear()
            self._rendered_generation = generation
        self._eof_at = None
        self._discard = self._write

    def _push(self, block: np.ndarray, src0: float, src1: float, generation: int) -> None:
        if generation != self._generation:
            return
        n = len(block)
        w = self._write
        i = w % self._cap
        first = min(n, self._cap - i)
        self._ring[i : i + first] = block[:first]
        if n > first:
            self._ring[: n - first] = block[first:]
        with self._chunk_lock:
            self._chunks.append((w, w + n, src0, src1))
            floor = max(self._read, self._discard) - self._cap // 2
            while self._chunks and self._chunks[0][1] < floor:
                self._chunks.popleft()
        self._write = w + n

    # ------------------------------------------------------------------ controls

    def _restart_at(self, t: float) -> None:
        self._target = min(max(t, 0.0), self.duration)
        self._ended = False
        self._generation += 1
        self._wake.set()

    def play(self, at: float | None = None) -> None:
        """Start (or resume) playing; from ``at`` seconds when given, else from where it is.

        After the end was reached, playing starts again from the beginning.
        """
        if at is not None:
            self._restart_at(at)
        elif self._ended:
            self._restart_at(0.0)
        self._playing = True

    def pause(self) -> None:
        """Stop the sound where it is; :meth:`play` resumes from there."""
        if self._playing:
            at = self.position
            self._playing = False
            self._restart_at(at)

    def toggle(self) -> bool:
        """Play if paused, pause if playing; returns whether it is now playing."""
        if self._playing:
            self.pause()
        else:
            self.play()
        return self._playing

    def seek(self, t: float) -> None:
        """Jump to ``t`` seconds (clipped to the recording), playing or not."""
        self._restart_at(t)

    def skip(self, delta: float) -> None:
        """Jump ``delta`` seconds forward (or back, when negative) from what is heard now."""
        self._restart_at(self.position + delta)

    @property
    def playing(self) -> bool:
        """Whether sound is going out now."""
        return self._playing

    @property
    def speed(self) -> float:
        """The tempo factor (1.0 is as recorded)."""
        return self._speed

    def set_speed(self, speed: float) -> float:
        """Change the tempo (clipped to 0.75-2x) keeping the pitch; returns the speed set."""
        speed = round(min(max(float(speed), MIN_SPEED), MAX_SPEED), 3)
        if speed != self._speed:
            at = self.position
            self._speed = speed
            self._restart_at(at)
        return speed

    def step_speed(self, steps: int) -> float:
        """Move up or down the :data:`SPEEDS` ladder by ``steps``; returns the new speed."""
        current = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self._speed))
        index = min(max(current + steps, 0), len(SPEEDS) - 1)
        return self.set_speed(SPEEDS[index])

    @property
    def skip_silence(self) -> bool:
        """Whether only the talk tracks are played (the silences are the other party)."""
        return self._skip_silence

    def set_skip_silence(self, on: bool) -> None:
        """Turn skip-silence on or off; playback continues from where it is."""
        if on != self._skip_silence:
            at = self.position
            self._skip_silence = on
            self._restart_at(at)

    def set_ranges(self, ranges: Sequence[tuple[float, float]]) -> None:
        """Replace the talk-track ranges (after a re-transcription)."""
        self._spans = merge_spans(ranges, self.duration)
        if self._skip_silence:
            self._restart_at(self.position)

    @property
    def position(self) -> float:
        """Seconds into the recording of what is being heard now."""
        if self._ended:
            return self.duration
        heard = max(self._read, self._discard)
        if self._playing:
            heard -= int(self.output_latency * self.sample_rate)
        with self._chunk_lock:
            if self._rendered_generation != self._generation or not self._chunks:
                return self._target if self._target is not None else 0.0
            for w0, w1, s0, s1 in self._chunks:
                if heard < w1:
                    if heard <= w0:
                        return s0
                    return s0 + (s1 - s0) * (heard - w0) / (w1 - w0)
            return self._chunks[-1][3]

    def state(self) -> PlayerState:
        """A snapshot for the player bar."""
        return PlayerState(
            position=self.position, duration=self.duration, playing=self._playing,
            speed=self._speed, skip_silence=self._skip_silence, ended=self._ended,
            underruns=self._underruns,
        )

    def close(self) -> None:
        """Stop the sound, the render thread and the device stream."""
        self._playing = False
        self._stop = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            finally:
                self._stream = None

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
