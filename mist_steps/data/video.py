"""Reading videos: one interface over video files and folders of frame images.

Two kinds of sources:

* a video file in any container/codec FFmpeg decodes (``.mp4``, ``.avi``, ...), decoded with
  PyAV;
* a folder of frame images (``.jpg``/``.jpeg``/``.png``), as the ShanghaiTech test set ships
  (``testing/frames/01_0014/000.jpg``, ...), read in natural filename order; such a folder
  has no frame rate of its own, so the caller passes one (``fps_for_frames``) or gets None.

:func:`open_video` returns a :class:`VideoSource` with ``path``, ``fps``, ``frame_count`` and
``iter_frames()``, which streams RGB ``uint8`` arrays of shape ``(H, W, 3)`` one at a time and
never holds the whole video. :func:`probe` is the cheap part alone (no decoding).

Every problem (missing path, empty file, not a video, no video stream, empty folder, a frame
that fails to decode) is an :class:`~mist_steps.errors.InputError` naming the path.

Frames come out as displayed: any pixel format is converted to RGB by FFmpeg (grey, 4:4:4,
odd sizes, ...), and a rotation in the container's display matrix (phone videos) is applied, as
the ``ffmpeg`` command line does by default. Variable-frame-rate videos yield every decoded
frame in order (no resampling); ``fps`` is the stream's average rate. Snippets of frames:
:mod:`mist_steps.data.snippets`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mist_steps.errors import InputError

log = logging.getLogger(__name__)


FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


def natural_key(name: str) -> list:
    """Sort key that orders ``2.jpg`` before ``10.jpg``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files (``.jpg``/``.jpeg``/``.png``) of ``folder`` in natural filename order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in FRAME_EXTENSIONS and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _why(err: av.FFmpegError) -> str:
    return err.strerror or str(err)


def _open_container(path: Path, what: str = "video"):
    """Open ``path`` with PyAV; return (container, first video stream) or raise InputError."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes); re-copy or re-download it")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise InputError(f"{path}: not a readable {what} ({_why(err)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    return container, container.streams.video[0]


def _stream_fps(stream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate and Fraction(rate) > 0 else None


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: video not found")


def probe(path: str | os.PathLike, fps_for_frames: float | None = None) -> tuple[int, float | None]:
    """``(frame_count, fps)`` of a video file or frame folder, without decoding.

    Files: the container's frame count when it has one (> 0), otherwise the number of
    demuxed video packets. Folders: the number of image files, and ``fps_for_frames``.
    """
    path = Path(path)
    _check_exists(path)
    if path.is_dir():
        count = len(list_frame_files(path))
        if count == 0:
            raise InputError(f"{path}: frame folder has no {'/'.join(FRAME_EXTENSIONS)} images")
        return count, None if fps_for_frames is None else float(fps_for_frames)
    container, stream = _open_container(path)
    with container:
        fps = _stream_fps(stream)
        count = stream.frames or 0
        if count <= 0:
            try:
                count = sum(1 for packet in container.demux(stream) if packet.size > 0)
            except av.FFmpegError as err:
                raise InputError(f"{path}: cannot read video packets ({_why(err)})") from None
    if count == 0:
        raise InputError(f"{path}: video stream has no frames")
    return count, fps


class VideoSource:
    """A video to read frame by frame. Use :func:`open_video` to get one."""

    def __init__(self, path: Path, frame_count: int, fps: float | None):
        self.path = path
        self.frame_count = frame_count  # from probe(): container metadata or packet count
        self.fps = fps  # None for a frame folder opened without fps_for_frames

    def iter_frames(self, threads: int = 0) -> Iterator[np.ndarray]:
        """Yield each frame in order as an RGB ``uint8`` array of shape ``(H, W, 3)``.

        ``threads``: decoder threads for video files (0 = FFmpeg's choice, all cores).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, frame_count={self.frame_count}, fps={self.fps})"


class VideoFile(VideoSource):
    """A video file decoded with PyAV (FFmpeg)."""

    def _open(self):
        """(container, video stream) to decode; a subclass may open other inputs (streams)."""
        return _open_container(self.path)

    def iter_frames(self, threads: int = 0) -> Iterator[np.ndarray]:
        container, stream = self._open()
        with container:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = max(0, int(threads))
            warned = False
            try:
                for frame in container.decode(stream):
                    pixels = frame.to_ndarray(format="rgb24")
                    rotation = _rotation(frame)
                    if rotation % 90:
                        if not warned:
                            log.warning("%s: display rotation of %s degrees is not a multiple "
                                        "of 90; frames are used unrotated", self.path, rotation)
                            warned = True
                    elif rotation % 360:
                        # counter-clockwise degrees, as np.rot90 counts them
                        pixels = np.ascontiguousarray(np.rot90(pixels, k=rotation // 90))
                    yield pixels
            except av.FFmpegError as err:
                raise InputError(f"{self.path}: decoding failed ({_why(err)}); the file is "
                                 f"corrupt or truncated, re-copy or re-download it") from None


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise display rotation of a decoded frame in degrees (0 without metadata)."""
    try:
        return int(round(frame.rotation or 0))
    except (AttributeError, ValueError, TypeError):  # no usable display matrix
        return 0


class FrameFolder(VideoSource):
    """A folder of frame images, each decoded with PyAV."""

    def iter_frames(self, threads: int = 0) -> Iterator[np.ndarray]:
        for file in list_frame_files(self.path):
            yield read_image(file)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file to an RGB ``uint8`` array of shape ``(H, W, 3)``."""
    path = Path(path)
    container, stream = _open_container(path, what="image")
    with container:
        try:
            for frame in container.decode(stream):
                return frame.to_ndarray(format="rgb24")
        except av.FFmpegError as err:
            raise InputError(f"{path}: cannot decode image ({_why(err)})") from None
    raise InputError(f"{path}: image holds no frame")


def open_video(path: str | os.PathLike, fps_for_frames: float | None = None) -> VideoSource:
    """Open a video file or a folder of frames (probed now, decoded lazily by ``iter_frames``)."""
    path = Path(path)
    frame_count, fps = probe(path, fps_for_frames)
    cls = FrameFolder if path.is_dir() else VideoFile
    return cls(path, frame_count, fps)
