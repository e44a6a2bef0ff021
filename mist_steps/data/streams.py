"""Reading a video as it arrives: a file, a pipe (stdin) or any URL FFmpeg opens.

:func:`open_stream` opens ``source`` once - a path, ``-`` for standard input (FFmpeg's
``pipe:0``), or a URL such as ``rtsp://``, ``http://``, ``udp://``, ``srt://`` - and returns a
:class:`StreamSource`, a :class:`~mist_steps.data.video.VideoFile` whose frames are decoded as the
bytes come in (one decoder thread, so no frame waits in a threaded decoder's queue). Wrapped
in a :class:`~mist_steps.data.video.SnippetReader`, it yields each 16-frame snippet as soon as its
last frame is decoded.

A stream cannot be read twice, so the container opened to probe it is the one decoded.
``frame_count`` is what the container declares (0 when it declares nothing: pipes, live
streams), ``fps`` the stream's rate (None when unknown).

Bad or interrupted input is an :class:`~mist_steps.errors.InputError` naming the source, raised
when it is noticed - frames decoded before it stay delivered:

* not a video at all (garbage, an empty pipe), or no video stream: when opening;
* a decoding error, or the container's own reader reporting an error (e.g. Matroska's "File
  ended prematurely" when a pipe is cut mid-stream): when reading, or at the end;
* fewer frames than the container declares (a truncated file): at the end
  (:class:`~mist_steps.data.video.SnippetReader`'s check).

MPEG-TS and other formats without a length cannot tell a stream cut between two packets from
its end: such a stream simply ends. An MP4 whose index (``moov``) sits at the end of the file
cannot be read from a pipe (FFmpeg would have to seek back): the error says to remux it with
``-movflags +faststart`` or send MPEG-TS / Matroska instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import av
import av.logging
import numpy as np

from mist_steps.data.video import VideoFile, _stream_fps, _why
from mist_steps.errors import InputError

STDIN = "-"

PIPE_HINT = ("an MP4 read from a pipe needs its index at the start: remux it with "
             "`ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4`, or send MPEG-TS or "
             "Matroska (`ffmpeg -i in.mp4 -c copy -f mpegts -`), or pass the file's path")


def source_name(source: str) -> str:
    return "stdin" if source == STDIN else str(source)


class StreamSource(VideoFile):
    """A video read once, front to back, as it arrives (see the module docstring)."""

    def __init__(self, source: str, container, stream):
        self.source = source
        self._container, self._stream = container, stream
        self.container_format = container.format.name
        super().__init__(Path(source_name(source)), int(stream.frames or 0),
                         _stream_fps(stream))

    @property
    def from_pipe(self) -> bool:
        return self.source == STDIN or str(self.source).startswith("pipe:")

    def _open(self):
        if self._container is None:
            raise InputError(f"{self.path}: a stream can be read only once")
        opened, self._container = (self._container, self._stream), None
        return opened

    def iter_frames(self, threads: int = 1) -> Iterator[np.ndarray]:
        """Frames as decoded (RGB uint8, display rotation applied), one decoder thread by
        default; see the module docstring for the errors."""
        decoded = 0
        previous = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as messages:
                try:
                    for frame in super().iter_frames(threads=threads):
                        decoded += 1
                        yield frame
                except InputError:
                    if decoded == 0 and self.from_pipe and "mp4" in self.container_format:
                        raise InputError(f"{self.path}: no frame decodes: {PIPE_HINT}") from None
                    raise
        finally:
            av.logging.set_level(previous)
        # The demuxer's own errors (not the decoder's: a live stream joined mid-GOP or with
        # lost packets makes the decoder complain and recover) mean the input broke off.
        broken = [text.strip() for level, name, text in messages
                  if name == self.container_format and level <= av.logging.ERROR]
        if broken:
            raise InputError(f"{self.path}: the stream broke off after {decoded} frames "
                             f"({broken[-1]}); the input was cut or is damaged")


def open_stream(source: str, *, format: str | None = None,
                options: Mapping[str, str] | None = None,
                timeout: float | None = None) -> StreamSource:
    """Open ``source`` (a path, ``-`` for stdin, or a URL) for reading as it arrives.

    ``format``: force the container format (FFmpeg's ``-f``, e.g. ``mpegts``) where it cannot
    be guessed; ``options``: FFmpeg options of the input (e.g. ``{"rtsp_transport": "tcp"}``);
    ``timeout``: seconds to wait for the input to open and for each read (None: forever).
    """
    name = source_name(source)
    url = "pipe:0" if source == STDIN else str(source)
    if "://" not in url and not url.startswith("pipe:"):
        path = Path(url)
        if not path.exists():
            raise InputError(f"{path}: video not found")
        if path.is_file() and path.stat().st_size == 0:
            raise InputError(f"{path}: file is empty (0 bytes); re-copy or re-download it")
    try:
        container = av.open(url, format=format, options=dict(options or {}), timeout=timeout)
    except av.FFmpegError as err:
        hint = (" (nothing arrived on stdin)" if source == STDIN else "")
        raise InputError(f"{name}: not a readable video stream ({_why(err)}){hint}; give a "
                         f"video file, a stream URL, or a video container on stdin (MPEG-TS, "
                         f"Matroska, MP4 with its index first); --format forces the "
                         f"container format") from None
    except ValueError as err:  # e.g. an unknown --format name
        raise InputError(f"{name}: cannot open ({err})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{name}: contains no video stream")
    return StreamSource(source, container, container.streams.video[0])
