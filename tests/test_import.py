"""Import through the CLI: every format and rate, consent, duplicates, and every bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from shadowbox.audio import decode
from shadowbox.cli import cli
from shadowbox.library import Library

from .conftest import DATA, SAMPLES

BAD = DATA / "bad"
CLIP = SAMPLES / "08_integration_salesforce.ogg"


def run(lib: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--library", str(lib), *args])
    return result.exit_code, result.stdout, result.stderr


def assert_library_empty(lib: Path) -> None:
    if not (lib / "library.db").exists():
        return
    with Library.open(lib) as opened:
        assert opened.list_calls() == []
        assert opened.queued_jobs() == []
    assert list((lib / "audio").iterdir()) == []


def encode(samples: np.ndarray, rate: int, path: Path, codec: str, channels: int,
           fmt: str | None = None) -> Path:
    """Write ``samples`` (mono float32 at 16 kHz) with PyAV in another codec, rate and layout."""
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.codec_context.options = {"strict": "experimental"}
        if fmt:
            stream.format = fmt
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)
        data = np.tile(samples, (channels, 1)) if channels == 2 else samples[None, :]
        frame = av.AudioFrame.from_ndarray(
            data.astype(np.float32), format="fltp", layout=layout
        )
        frame.sample_rate = 16000
        frame.time_base = Fraction(1, 16000)
        for out in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


BAD_INPUTS = [
    ("text.mp3", "not a readable audio file"),
    ("empty.wav", "the file is empty"),
    ("truncated.wav", "holds no audio"),
    ("random.flac", "holds no audio"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_INPUTS)
def test_bad_file_is_refused_with_one_line(lib_path: Path, name: str, reason: str) -> None:
    code, _, err = run(lib_path, "import", str(BAD / name), "--consent", "verbal")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert name in lines[0] and reason in lines[0]
    assert "Traceback" not in err
    assert_library_empty(lib_path)


def test_folder_and_missing_path_are_refused(lib_path: Path, tmp_path: Path) -> None:
    code, _, err = run(lib_path, "import", str(tmp_path), "--consent", "verbal")
    assert code == 1 and "it is a folder" in err and str(tmp_path) in err
    code, _, err = run(lib_path, "import", str(tmp_path / "nope.wav"), "--consent", "verbal")
    assert code == 1 and "nope.wav: no such file" in err
    assert_library_empty(lib_path)


def test_one_bad_file_refuses_the_whole_batch(lib_path: Path) -> None:
    code, _, err = run(
        lib_path, "import", str(CLIP), str(BAD / "text.mp3"), "--consent", "verbal",
        "--no-transcribe",
    )
    assert code == 1 and "text.mp3" in err
    assert_library_empty(lib_path)


def test_import_without_consent_is_refused(lib_path: Path) -> None:
    code, _, err = run(lib_path, "import", str(CLIP), "--no-transcribe")
    assert code == 1
    assert "no consent record" in err and "--consent" in err
    assert len(err.strip().splitlines()) == 1
    assert_library_empty(lib_path)


def test_unknown_consent_method_is_refused(lib_path: Path) -> None:
    code, _, err = run(lib_path, "import", str(CLIP), "--consent", "nodded")
    assert code == 2 and "nodded" in err
    assert_library_empty(lib_path)


def test_consent_default_from_config(lib_path: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('consent = "written"\nrep = "Priya"\n')
    monkeypatch.setenv("SHADOWBOX_CONFIG", str(config))
    code, _, err = run(lib_path, "import", str(CLIP), "--no-transcribe")
    assert code == 0, err
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert lib.consent(call.id).method == "written"
        assert call.rep == "Priya"
        assert call.title == CLIP.stem


def test_policy_requiring_announcement_refuses_verbal(lib_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHADOWBOX_REQUIRE_ANNOUNCEMENT", "true")
    code, _, err = run(lib_path, "import", str(CLIP), "--consent", "verbal")
    assert code == 1 and "policy requires announcement" in err
    assert_library_empty(lib_path)


def test_same_audio_twice_is_not_duplicated(lib_path: Path) -> None:
    assert run(lib_path, "import", str(CLIP), "--consent", "verbal", "--no-transcribe")[0] == 0
    code, _, err = run(lib_path, "import", str(CLIP), "--consent", "verbal", "--no-transcribe")
    assert code == 0 and "already in the library" in err
    with Library.open(lib_path) as lib:
        assert len(lib.list_calls()) == 1
        assert len(lib.queued_jobs()) == 1
    assert len(list((lib_path / "audio").iterdir())) == 1


FORMATS = [
    ("a.wav", "pcm_u8", 8000, 1, None),
    ("b.wav", "pcm_s24le", 96000, 2, None),
    ("c.flac", "flac", 44100, 2, None),
    ("d.mp3", "libmp3lame", 22050, 1, None),
    ("e.m4a", "aac", 48000, 2, None),
    ("f.ogg", "libopus", 48000, 1, None),
    ("g.opus", "libopus", 48000, 2, None),
    ("h.ogg", "vorbis", 32000, 2, None),
]


@pytest.mark.parametrize(("name", "codec", "rate", "channels", "fmt"), FORMATS)
def test_every_format_rate_and_layout_imports(
    lib_path: Path, tmp_path: Path, name: str, codec: str, rate: int, channels: int,
    fmt: str | None,
) -> None:
    source = decode(CLIP).samples[: 16000 * 6]
    path = encode(source, rate, tmp_path / name, codec, channels, fmt)
    code, _, err = run(lib_path, "import", str(path), "--consent", "verbal", "--no-transcribe")
    assert code == 0, err
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert call.title == Path(name).stem
        assert call.duration == pytest.approx(6.0, abs=0.15)
        copied = lib.audio_file(call)
        assert copied.read_bytes() == path.read_bytes()


def test_stereo_channel_choice(lib_path: Path) -> None:
    stereo = DATA / "stereo_lr.wav"
    left = decode(stereo, "left").samples
    right = decode(stereo, "right").samples
    mix = decode(stereo, "mix").samples
    assert not np.allclose(left, right)
    assert np.allclose(mix, (left + right) / 2, atol=1e-3)
    code, _, err = run(lib_path, "import", str(stereo), "--consent", "verbal", "--channel",
                       "left", "--no-transcribe")
    assert code == 0, err
    with Library.open(lib_path) as lib:
        assert lib.list_calls()[0].channel == "left"
