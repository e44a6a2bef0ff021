"""Snippets: :class:`SnippetReader` groups a video's frames into non-overlapping snippets of
``SNIPPET_LEN`` (16) frames, dropping the trailing ``n mod 16``, holding one partial snippet at
most. :func:`snippet_batches` runs decoding in a background thread over a list of videos and
delivers batches of snippets that cross video boundaries through a bounded queue, so decoding
overlaps the consumer (an encoder) and memory stays flat however long the videos are.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.data.background import BackgroundFeeder
from mist_steps.data.video import VideoSource, open_video
from mist_steps.errors import InputError

log = logging.getLogger(__name__)


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
