"""Types of the compiled detector steps (flexrec/analysis/_vad.c); they take any buffer, and
are given numpy arrays."""

import numpy as np
import numpy.typing as npt

def block_floors(
    energy_db: npt.NDArray[np.float32],
    per_block: int,
    percentile: float,
    silence_dbfs: float,
    half: int,
    min_level_dbfs: float,
    out: npt.NDArray[np.float32],
    /,
) -> None: ...
def speech_frames(
    energy_db: npt.NDArray[np.float32],
    power: npt.NDArray[np.float32],
    floor: npt.NDArray[np.float32],
    floor_power: npt.NDArray[np.float32],
    per_block: int,
    snr_db: float,
    min_level_dbfs: float,
    music_min_snr_db: float,
    width: int,
    music_max_cv: float,
    music_min_active: float,
    speech: npt.NDArray[np.bool_],
    music: npt.NDArray[np.bool_],
    /,
) -> None: ...
def speech_spans(
    active: npt.NDArray[np.bool_],
    frame_ms: int,
    min_burst_frames: float,
    max_gap_frames: int,
    min_speech_frames: float,
    pad_ms: int,
    /,
) -> list[tuple[int, int]]: ...
