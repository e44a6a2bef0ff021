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
frame in order (no resampling); ``fps`` is the stream's average rate.

Snippets: :class:`SnippetReader` groups a video's frames into non-overlapping snippets of
``SNIPPET_LEN`` (16) frames, dropping the trailing ``n mod 16``, holding one partial snippet at
most. :func:`snippet_batches` runs decoding in a background thread over a list of videos and
delivers batches of snippets that cross video boundaries through a bounded queue, so decoding
overlaps the consumer (an encoder) and memory stays flat however long the videos are.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.background import BackgroundFeeder
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


# -- snippets -------------------------------------------------------------------------------
# A container that declares more frames than decode is truncated unless the gap is tiny: some
# AVI files count dropped-frame placeholders, and a few frames of slack keep those usable.
MISSING_FRAMES_TOLERANCE = 0.01


class SnippetReader:
    """Iterate a video as non-overlapping snippets ``[snippet_len, h, w, 3]`` of ``uint8``.

    ``transform`` (optional) maps each decoded frame (RGB ``(H, W, 3)`` uint8) to the array
    kept, e.g. a resize to the encoder's input: applied once per frame, as it is decoded, so
    only one raw frame and one partial snippet of transformed frames are held at a time. The
    trailing ``frame count mod snippet_len`` frames are dropped. After iteration,
    ``frames_decoded`` holds the number of frames decoded and ``snippets`` the number yielded.

    A video with fewer than ``snippet_len`` frames, or one that decodes clearly fewer frames
    than its container declares (truncated), raises :class:`InputError` naming the file.
    """

    def __init__(self, video: VideoSource, snippet_len: int = SNIPPET_LEN,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None, threads: int = 0):
        self.video = video
        self.snippet_len = int(snippet_len)
        self.transform = transform
        self.threads = threads
        self.frames_decoded = 0
        self.snippets = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        buffer: np.ndarray | None = None
        shape = None
        filled = 0
        for frame in self.video.iter_frames(threads=self.threads):
            self.frames_decoded += 1
            if self.transform is not None:
                frame = self.transform(frame)
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise InputError(
                    f"{self.video.path}: frame {self.frames_decoded - 1} is {frame.shape[:2]} "
                    f"but earlier frames are {shape[:2]}; frames of one video must share a "
                    f"size (for a frame folder, make all images the same size)")
            if buffer is None:
                buffer = np.empty((self.snippet_len, *shape), dtype=frame.dtype)
            buffer[filled] = frame
            filled += 1
            if filled == self.snippet_len:
                self.snippets += 1
                yield buffer
                buffer, filled = None, 0  # the consumer keeps the yielded array
        self._check_complete()

    def _check_complete(self) -> None:
        path, declared, decoded = self.video.path, self.video.frame_count, self.frames_decoded
        if decoded < self.snippet_len:
            raise InputError(
                f"{path}: only {decoded} frame(s) decoded, shorter than one {self.snippet_len}-"
                f"frame snippet, so it has no features; remove it from the dataset or re-encode it")
        missing = declared - decoded
        if missing >= self.snippet_len and missing > MISSING_FRAMES_TOLERANCE * declared:
            raise InputError(
                f"{path}: the container declares {declared} frames but only {decoded} decode; "
                f"the file looks truncated, re-copy or re-download it")
        if missing:
            log.warning("%s: %d frames declared, %d decoded", path, declared, decoded)


@dataclass
class SnippetBatch:
    """Snippets in decoding order; ``owners[i]`` is the index (in the video list) of the
    video ``snippets[i]`` comes from. A batch may span several videos."""

    snippets: list[np.ndarray] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)


@dataclass
class VideoDone:
    """Video ``index`` decoded completely into ``n_snippets`` snippets (all delivered in
    batches sent before or after this event), from ``frames_decoded`` frames."""

    index: int
    n_snippets: int
    frames_decoded: int
    fps: float | None
    frame_count: int


@dataclass
class VideoFailed:
    """Video ``index`` could not be read; ``reason`` names the file. Its snippets already sent
    are to be discarded; none follow."""

    index: int
    reason: str


def snippet_batches(
    videos: Sequence[VideoSource | str | os.PathLike | tuple[str | os.PathLike, float | None]],
    batch_size: int,
    *,
    transform_factory: Callable[[], Callable[[np.ndarray], np.ndarray]] | None = None,
    snippet_len: int = SNIPPET_LEN,
    max_batches: int = 2,
    decode_threads: int = 0,
) -> Iterator[SnippetBatch | VideoDone | VideoFailed]:
    """Decode ``videos`` in a background thread; yield their snippets in batches and events.

    ``videos``: :class:`VideoSource` objects, paths, or ``(path, fps_for_frames)`` pairs
    (opened in the thread, so a bad one becomes a :class:`VideoFailed`).
    ``transform_factory()`` gives each video a fresh per-frame transform (see
    :class:`SnippetReader`). Batches hold ``batch_size`` snippets (the last one fewer) and run
    across video boundaries. Each video ends with exactly one :class:`VideoDone` or
    :class:`VideoFailed`, after which no batch holds its snippets; an :class:`InputError` while
    reading a video becomes its ``VideoFailed`` and decoding goes on with the next one.

    At most ``max_batches`` finished batches wait in the queue (plus the one being filled), so
    memory is bounded whatever the videos' lengths. PyAV releases the GIL while decoding, so the
    thread runs alongside the consumer's model. Closing the generator stops the thread.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    decoder = _SnippetDecoder(videos, batch_size, transform_factory, snippet_len, decode_threads,
                              depth=max_batches)
    try:
        yield from decoder
    finally:
        decoder.close(timeout=10)


class _SnippetDecoder(BackgroundFeeder):
    """The decoding thread of :func:`snippet_batches`."""

    def __init__(self, videos, batch_size: int, transform_factory, snippet_len: int,
                 decode_threads: int, depth: int):
        self._videos, self._batch_size = videos, batch_size
        self._transform_factory, self._snippet_len = transform_factory, snippet_len
        self._decode_threads = decode_threads
        super().__init__(depth=depth, name="snippet-decoder")

    def _produce(self) -> Iterator[SnippetBatch | VideoDone | VideoFailed]:
        batch = SnippetBatch()
        for index, item in enumerate(self._videos):
            try:
                video = _as_source(item)
                factory = self._transform_factory
                transform = factory() if factory is not None else None
                reader = SnippetReader(video, self._snippet_len, transform,
                                       threads=self._decode_threads)
                for snippet in reader:
                    batch.snippets.append(snippet)
                    batch.owners.append(index)
                    if len(batch.snippets) == self._batch_size:
                        yield batch
                        batch = SnippetBatch()
                event = VideoDone(index, reader.snippets, reader.frames_decoded, video.fps,
                                  video.frame_count)
            except InputError as err:
                # its snippets not yet sent must not reach the consumer
                keep = [i for i, owner in enumerate(batch.owners) if owner != index]
                batch = SnippetBatch([batch.snippets[i] for i in keep],
                                     [batch.owners[i] for i in keep])
                event = VideoFailed(index, str(err))
            yield event
        if batch.snippets:
            yield batch


def _as_source(item) -> VideoSource:
    if isinstance(item, VideoSource):
        return item
    if isinstance(item, tuple):
        path, fps = item
        return open_video(path, fps_for_frames=fps)
    return open_video(item)


# -- the dataset index --------------------------------------------------------------------------
VIDEO_TABLE_COLUMNS = ("video_id", "path", "split", "label", "class", "frame_count", "fps")


def read_video_table(path: str | os.PathLike):
    """Read a dataset index ``videos.csv`` (columns :data:`VIDEO_TABLE_COLUMNS`) as a pandas
    DataFrame, checked: all columns present, video ids unique and non-empty."""
    import pandas as pd  # only the steps that read an index need pandas

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: video index not found; run the dataset indexing step first")
    try:
        table = pd.read_csv(path, dtype={"video_id": str, "path": str, "split": str,
                                         "class": str}, keep_default_na=False,
                            na_values={"fps": ["", "nan", "NaN"], "frame_count": [""]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV ({err}); rebuild it with the indexing "
                         f"step") from None
    missing = [c for c in VIDEO_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; a videos.csv has the columns "
                         f"{', '.join(VIDEO_TABLE_COLUMNS)} (rebuild it with the indexing step)")
    empty = table.index[table["video_id"].str.strip() == ""].tolist()
    if empty:
        raise InputError(f"{path}: empty video_id on data line(s) {[i + 1 for i in empty[:5]]}")
    odd = table.index[table["video_id"].str.contains("/", regex=False)
                      | table["video_id"].isin([".", ".."])].tolist()
    if odd:  # ids name HDF5 datasets and files: a '/' would reach outside their group
        raise InputError(f"{path}: video_id {table['video_id'][odd[0]]!r} on data line "
                         f"{odd[0] + 1} is not a plain name (no '/', '.', '..'); rebuild the "
                         f"index with the indexing step")
    dupes = sorted(set(table["video_id"][table["video_id"].duplicated()]))
    if dupes:
        raise InputError(f"{path}: video_id(s) listed more than once: {dupes[:5]}; ids must "
                         f"be unique")
    try:
        table["frame_count"] = table["frame_count"].astype(int)
        table["fps"] = table["fps"].astype(float)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: frame_count must be integers and fps numbers ({err})") from None
    return table
