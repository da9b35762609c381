"""Types of the compiled frame pass (flexrec/analysis/_frames.c); it takes any buffer, and is
given numpy arrays."""

import numpy as np
import numpy.typing as npt

def frame_pass(
    pcm: npt.NDArray[np.int16],
    channels: int,
    frame_samples: int,
    frames: int,
    low: npt.NDArray[np.int16],
    high: npt.NDArray[np.int16],
    sums: npt.NDArray[np.float32],
    stride: int,
    vector: bool,
    /,
) -> None: ...
def vector() -> bool: ...
