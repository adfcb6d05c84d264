"""Capture: record an input device to a WAV file that survives a crash, with a level meter.

The audio path follows rec_gui.py from python-sounddevice: the PortAudio callback copies each
block and queues it, nothing else; a writer thread owns the file, opens it (exclusive create)
before the stream starts, writes in batches, keeps the WAV header current (libsndfile's
automatic header update) and fsyncs at least every second, so ordinary readers can open the
file while it grows and a SIGKILL loses well under a second. The meter carries only the latest
value. Faults (disk full, device gone or silent) stop the writing cleanly and are reported.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeviceError, LibraryError

# libsndfile's SFC_SET_UPDATE_HEADER_AUTO: rewrite the header after every write.
SFC_SET_UPDATE_HEADER_AUTO = 0x1061
DEFAULT_LATENCY = 0.2
"""Seconds of device buffer asked for: slack for a busy machine (the GIL, a transcription)."""
WRITE_INTERVAL = 0.2
"""The writer wakes at most this often once recording runs (few wakeups, small batches);
also the meter's refresh rate."""
SYNC_INTERVAL = 1.0
"""Longest time between fsyncs of the recording."""
RESERVE_BYTES = 8 * 1024 * 1024
"""Free space kept on the disk: the compacted copy and the database rows still need room."""
COMPACT_BYTES_PER_SECOND = 20_000
"""Room the compacted audio needs per recorded second (16 kHz FLAC of speech), reserved too."""
STALL_SECONDS = 5.0
"""No audio for this long from a running stream means the device stopped delivering."""
FULL_SCALE = 32768.0
CLIP_PEAK = 32766 / FULL_SCALE


@dataclass(frozen=True)
class Device:
    """An audio device as PortAudio lists it, with the system defaults marked."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool = False
    default_output: bool = False

    def to_json(self) -> dict[str, Any]:
        """The keys ``shadowbox devices --json`` prints."""
        return asdict(self)


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise DeviceError(f"Audio devices: PortAudio is not available ({exc})") from None
    return sounddevice


def list_devices() -> list[Device]:
    """Every input and output device PortAudio knows, so a rep can pick the right microphone."""
    sd = _sounddevice()
    try:
        raw = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as exc:
        raise DeviceError(f"Audio devices: cannot list them ({exc})") from None
    if default_in is None or default_in < 0:
        default_in = _hostapi_default(hostapis, "default_input_device")
    if default_out is None or default_out < 0:
        default_out = _hostapi_default(hostapis, "default_output_device")
    return [
        Device(
            index=int(d["index"]),
            name=str(d["name"]),
            hostapi=str(hostapis[d["hostapi"]]["name"]),
            max_input_channels=int(d["max_input_channels"]),
            max_output_channels=int(d["max_output_channels"]),
            default_samplerate=float(d["default_samplerate"]),
            default_input=int(d["index"]) == default_in,
            default_output=int(d["index"]) == default_out,
        )
        for d in raw
    ]


def _hostapi_default(hostapis: Sequence[dict[str, Any]], key: str) -> int:
    for api in hostapis:
        if api.get(key, -1) >= 0:
            return int(api[key])
    return -1


def find_input_device(spec: str | int | None = None) -> Device:
    """The input device a rep named: an index, an exact name, or a unique part of a name.

    Args:
        spec: None for the system default input; an int or digits for an index; otherwise a
            name matched exactly (ignoring case), then as a unique substring.
    """
    return _find_device(spec, "input")


def find_output_device(spec: str | int | None = None) -> Device:
    """The output device for the consent notice, chosen like :func:`find_input_device`."""
    return _find_device(spec, "output")


def _find_device(spec: str | int | None, kind: str) -> Device:
    devices = list_devices()
    has = (
        (lambda d: d.max_input_channels > 0)
        if kind == "input"
        else (lambda d: d.max_output_channels > 0)
    )
    usable = [d for d in devices if has(d)]
    names = ", ".join(d.name for d in usable) or "none"
    label = "Input" if kind == "input" else "Output"
    if spec is None or spec == "":
        chosen = [d for d in usable if (d.default_input if kind == "input" else d.default_output)]
        if chosen:
            return chosen[0]
        if usable:
            return usable[0]
        raise DeviceError(f"{label} device: this machine has none (is the sound server running?)")
    text = str(spec).strip()
    if text.isdigit():
        matches = [d for d in devices if d.index == int(text)]
        if not matches:
            raise DeviceError(f"{label} device {text}: no device has that index ({names})")
    else:
        matches = [d for d in devices if d.name.lower() == text.lower()]
        if not matches:
            matches = [d for d in usable if text.lower() in d.name.lower()]
        if not matches:
            raise DeviceError(f"{label} device {text!r}: no such device ({kind}s: {names})")
        if len(matches) > 1:
            found = ", ".join(d.name for d in matches)
            raise DeviceError(f"{label} device {text!r}: matches several ({found}); be exact")
    device = matches[0]
    if not has(device):
        raise DeviceError(f"{label} device {device.name!r}: it has no {kind} channels")
    return device


@dataclass(frozen=True)
class Level:
    """The latest meter reading: peak and RMS (0..1 of full scale) of the last batch."""

    peak: float
    rms: float
    clipped: bool
    at: float

    @property
    def dbfs(self) -> float:
        """Peak level in dB relative to full scale (-120 for digital silence)."""
        return 20 * float(np.log10(self.peak)) if self.peak > 1e-6 else -120.0


@dataclass(frozen=True)
class Fault:
    """Why a recording stopped on its own: ``disk`` (cannot write) or ``device`` (no audio)."""

    kind: str
    message: str


@dataclass(frozen=True)
class RecorderResult:
    """What a finished recording holds and what went wrong while it ran."""

    path: Path
    frames: int
    samplerate: int
    channels: int
    overflows: int
    dropped_samples: int
    fault: Fault | None
    first_block_latency: float | None

    @property
    def duration(self) -> float:
        """Seconds of audio in the file."""
        return self.frames / self.samplerate if self.samplerate else 0.0


_SENTINEL = None
_NOTHING = object()


class Recorder:
    """Records one input device to one new WAV file until stopped.

    Use it as ``rec = Recorder(path, device="pulse"); rec.start(); ...; result = rec.stop()``,
    or as a context manager. The file is 16-bit PCM at the device's native rate (unless a rate
    is given), mono unless more channels are asked for.
    """

    def __init__(
        self,
        path: Path,
        *,
        device: str | int | Device | None = None,
        samplerate: int | None = None,
        channels: int = 1,
        latency: float = DEFAULT_LATENCY,
        sync_interval: float = SYNC_INTERVAL,
        reserve_bytes: int | None = None,
    ) -> None:
        """Choose the device and the file; nothing is opened until :meth:`start`.

        Args:
            path: the WAV file to create; it must not exist (it is never overwritten).
            device: a :class:`Device`, an index, a name (see :func:`find_input_device`) or None
                for the default input.
            samplerate: frames per second; None takes the device's native rate, so nothing
                resamples on the audio path.
            channels: input channels to record (1 for a rep's microphone).
            latency: seconds of device buffer to ask PortAudio for.
            sync_interval: longest time between fsyncs of the file.
            reserve_bytes: stop (as a disk fault) when the disk has less free space than
                this plus what compacting the recording will need (None: RESERVE_BYTES).
        """
        self.path = Path(path)
        self.device = device if isinstance(device, Device) else find_input_device(device)
        self.samplerate = int(samplerate or round(self.device.default_samplerate))
        self.channels = channels
        self.latency = latency
        self.sync_interval = sync_interval
        self.reserve_bytes = RESERVE_BYTES if reserve_bytes is None else reserve_bytes
        self._blocks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._levels: queue.Queue[Level] = queue.Queue(maxsize=1)
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._stopping = threading.Event()
        self._open_error: BaseException | None = None
        self._writer: threading.Thread | None = None
        self._stream: Any = None
        self._fault: Fault | None = None
        self._result: RecorderResult | None = None
        self.frames = 0
        self.overflows = 0
        self.dropped_samples = 0
        self.started_at: float | None = None
        self.first_block_at: float | None = None
        self._last_block_at: float | None = None

    # ------------------------------------------------------------------ the audio callback

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # Copy and queue, nothing else: the writer thread does the accounting and the I/O.
        self._blocks.put((indata.copy(), time_info.inputBufferAdcTime, status))

    def _stream_finished(self) -> None:
        self._finished.set()

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        """Create the file, start the writer, then open and start the input stream.

        Raises DeviceError if the device cannot be opened (the empty file is removed) and
        LibraryError if the file cannot be created.
        """
        if self._writer is not None:
            raise DeviceError(f"Recorder for {self.path.name}: already started")
        sd = _sounddevice()
        self._writer = threading.Thread(
            target=self._write_loop, name=f"shadowbox-writer-{self.path.stem}", daemon=True
        )
        self._writer.start()
        self._ready.wait()
        if self._open_error is not None:
            self._writer.join()
            exc = self._open_error
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise LibraryError(f"Recording file {self.path}: cannot create it ({reason})")
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                samplerate=self.samplerate,
                channels=self.channels,
                dtype="int16",
                latency=self.latency,
                callback=self._callback,
                finished_callback=self._stream_finished,
            )
            self.started_at = time.monotonic()
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            self._blocks.put(_SENTINEL)
            self._wake.set()
            self._writer.join()
            self.path.unlink(missing_ok=True)
            raise DeviceError(
                f"Input device {self.device.name!r}: cannot record from it at "
                f"{self.samplerate} Hz ({_one_line(exc)})"
            ) from None

    def stop(self) -> RecorderResult:
        """Stop the stream, let the writer write what is queued, close the file.

        Safe to call twice; the second call returns the same result.
        """
        if self._result is not None:
            return self._result
        if self._writer is None:
            raise DeviceError(f"Recorder for {self.path.name}: stopped before it started")
        sd = _sounddevice()
        self._stopping.set()
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except sd.PortAudioError as exc:
                if self._fault is None:
                    self._fault = Fault("device", f"the input device failed ({_one_line(exc)})")
        self._blocks.put(_SENTINEL)
        self._wake.set()
        self._writer.join()
        latency = (
            self.first_block_at - self.started_at
            if self.first_block_at is not None and self.started_at is not None
            else None
        )
        self._result = RecorderResult(
            path=self.path, frames=self.frames, samplerate=self.samplerate,
            channels=self.channels, overflows=self.overflows,
            dropped_samples=self.dropped_samples, fault=self._fault,
            first_block_latency=latency,
        )
        return self._result

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ state for the UI

    @property
    def elapsed(self) -> float:
        """Seconds of audio written so far (what a marker dropped now points at)."""
        return self.frames / self.samplerate

    @property
    def fault(self) -> Fault | None:
        """Why the recording cannot go on (the caller should stop it), or None."""
        return self._fault

    def level(self) -> Level | None:
        """The newest meter reading not yet taken, or None if there is none since the last."""
        try:
            return self._levels.get_nowait()
        except queue.Empty:
            return None

    # ------------------------------------------------------------------ the writer thread

    def _write_loop(self) -> None:
        import soundfile as sf

        try:
            fd = _create_exclusive(self.path)
        except OSError as exc:
            self._open_error = exc
            self._ready.set()
            return
        try:
            out = sf.SoundFile(
                fd, "w", samplerate=self.samplerate, channels=self.channels,
                format="WAV", subtype="PCM_16", closefd=False,
            )
            sf._snd.sf_command(out._file, SFC_SET_UPDATE_HEADER_AUTO, sf._ffi.NULL, 1)
        except (OSError, RuntimeError) as exc:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        # The stream starts meanwhile: syncing the new name is kept off the key-press path.
        try:
            _fsync_dir(self.path.parent)
        except OSError as exc:
            self._set_disk_fault(exc.strerror or str(exc))
        last_sync = time.monotonic()
        prev_adc = 0.0
        prev_frames = 0
        try:
            while True:
                batch: list[np.ndarray] = []
                done = False
                try:
                    item = self._blocks.get(timeout=WRITE_INTERVAL)
                except queue.Empty:
                    item = _NOTHING
                while item is not _NOTHING:
                    if item is _SENTINEL:
                        done = True
                    else:
                        data, adc, status = item
                        if self.first_block_at is None:
                            self.first_block_at = time.monotonic()
                        if status.input_overflow:
                            self.overflows += 1
                            self.dropped_samples += _lost_frames(
                                adc, prev_adc, prev_frames, self.samplerate, len(data)
                            )
                        prev_adc, prev_frames = adc, len(data)
                        batch.append(data)
                    try:
                        item = self._blocks.get_nowait()
                    except queue.Empty:
                        item = _NOTHING
                now = time.monotonic()
                if batch:
                    self._last_block_at = now
                    self._write(out, batch)
                if self._fault is None and now - last_sync >= self.sync_interval:
                    try:
                        os.fsync(fd)
                        self._check_space(fd)
                    except OSError as exc:
                        self._set_disk_fault(exc.strerror or str(exc))
                    last_sync = now
                self._watch_device(now)
                if done:
                    break
                self._wake.wait(WRITE_INTERVAL)
        finally:
            try:
                out.close()
            except RuntimeError as exc:
                if self._fault is None:
                    self._set_disk_fault(_one_line(exc))
            with contextlib.suppress(OSError):  # what was written stays either way
                os.fsync(fd)
            os.close(fd)

    def _write(self, out: Any, batch: list[np.ndarray]) -> None:
        import soundfile as sf

        data = batch[0] if len(batch) == 1 else np.concatenate(batch)
        self._publish_level(data)
        if self._fault is not None:
            return
        try:
            out.write(data)
        except RuntimeError:
            detail = sf._ffi.string(sf._snd.sf_strerror(out._file)).decode(errors="replace")
            self._set_disk_fault(detail.replace("System error : ", "").rstrip("."))
            return
        self.frames += len(data)

    def _check_space(self, fd: int) -> None:
        """Stop before the disk is full, while there is still room to store the call."""
        vfs = os.fstatvfs(fd)
        free = vfs.f_bavail * vfs.f_frsize
        needed = self.reserve_bytes + int(self.elapsed * COMPACT_BYTES_PER_SECOND)
        if free < needed:
            self._fault = Fault(
                "disk",
                f"the disk is almost full ({free / 1e6:.1f} MB free; stopped to leave room "
                "to store the call)",
            )

    def _set_disk_fault(self, detail: str) -> None:
        if "No space" in detail:
            message = f"the disk is full ({detail})"
        else:
            message = f"cannot write {self.path.name} ({detail})"
        self._fault = Fault("disk", message)

    def _watch_device(self, now: float) -> None:
        if self._fault is not None or self._stream is None or self._stopping.is_set():
            return
        if self._finished.is_set():
            self._fault = Fault("device", f"input device {self.device.name!r} stopped (it "
                                          "disappeared or failed)")
            return
        since = self._last_block_at or self.started_at
        if since is not None and now - since > STALL_SECONDS:
            self._fault = Fault(
                "device",
                f"input device {self.device.name!r} delivered no audio for {STALL_SECONDS:.0f} s",
            )

    def _publish_level(self, data: np.ndarray) -> None:
        samples = data.reshape(-1).astype(np.float32)
        if len(samples) == 0:
            return
        peak = float(np.abs(samples).max()) / FULL_SCALE
        rms = float(np.sqrt(np.dot(samples, samples) / len(samples))) / FULL_SCALE
        level = Level(peak=peak, rms=rms, clipped=peak >= CLIP_PEAK,
                      at=(self.frames + len(data)) / self.samplerate)
        # Only this thread puts, so once the old reading is dropped there is room.
        with contextlib.suppress(queue.Empty):
            self._levels.get_nowait()
        self._levels.put_nowait(level)


def _lost_frames(adc: float, prev_adc: float, prev_frames: int, rate: int, block: int) -> int:
    """Estimate the frames an input overflow dropped from the gap in ADC timestamps.

    PortAudio flags an overflow but does not say how much was lost; the capture time of the
    block after the gap does. When the host gives no usable timestamps, count one block.
    """
    if adc > 0 and prev_adc > 0:
        gap = adc - (prev_adc + prev_frames / rate)
        return max(0, round(gap * rate))
    return block


def _create_exclusive(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _fsync_dir(path: Path) -> None:
    """Make a new file's name durable, not only its bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
