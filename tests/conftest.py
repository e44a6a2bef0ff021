"""Shared fixtures: the real reference files, the repository's copies, tiny media makers."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "resources"
SHARED_DATA = REPO.parent / "shared" / "data"

# The suite runs on two pytest-xdist workers (the README's command): one torch thread each,
# so that two workers never ask for more threads than there are cores (an OpenMP thread
# waiting for a descheduled sibling made a 33 s test take 150 s).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real reference files provided next to the repository (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real reference files not found at {SHARED_DATA}; they are provided in CI next "
            f"to the repository"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def resources() -> Path:
    """The repository's copies of the official annotation files (``resources/``)."""
    return RESOURCES


def frame_pixels(i: int, size=(32, 32)) -> np.ndarray:
    """A recognisable RGB frame: flat grey whose level encodes ``i``."""
    h, w = size
    return np.full((h, w, 3), (20 + 10 * i) % 240, dtype=np.uint8)


def write_video(path: Path, n_frames: int = 40, *, fps: int = 25, size=(32, 32),
                codec: str = "libx264", pix_fmt: str = "yuv420p", pixels=None) -> Path:
    """Encode a tiny real video with PyAV (container chosen from the file extension).

    Frame ``i`` is ``pixels(i, size)`` (default :func:`frame_pixels`).
    """
    pixels = pixels or frame_pixels
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.height, stream.width = size
        stream.pix_fmt = pix_fmt
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(pixels(i, size), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_jpeg(path: Path, pixels: np.ndarray) -> Path:
    """Encode one RGB array as a JPEG file with PyAV's MJPEG encoder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.height, ctx.width = pixels.shape[:2]
    ctx.pix_fmt = "yuvj444p"
    ctx.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuvj444p")
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    path.write_bytes(data)
    return path


def write_frame_folder(folder: Path, n_frames: int, *, size=(32, 32), pattern="{:03d}.jpg") -> Path:
    """A ShanghaiTech-style folder of JPEG frames ``000.jpg, 001.jpg, ...``."""
    for i in range(n_frames):
        write_jpeg(folder / pattern.format(i), frame_pixels(i, size))
    return folder


@pytest.fixture(name="frame_pixels")
def frame_pixels_fixture():
    return frame_pixels


@pytest.fixture
def make_video():
    return write_video


@pytest.fixture
def make_frame_folder():
    return write_frame_folder


@pytest.fixture
def make_jpeg():
    return write_jpeg


# The longest test files first: `pytest -n 2 --dist loadfile` (the README's command) hands
# files to the two workers in collection order, and a long file started last would leave
# one worker idle while the other finishes it.
LONGEST_FIRST = ("test_workflow.py", "test_pretrain.py", "test_finetune.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = Path(str(item.fspath)).name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside each file is kept
