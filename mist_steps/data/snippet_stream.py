"""Streaming the videos of a dataset index through a model, snippet by snippet.

What the steps that run a network over every 16-frame snippet of ``videos.csv`` rows share
(feature extraction, MIST scoring): :func:`stream_rows` decodes the rows' videos in a
background thread (:func:`mist_steps.data.video.snippet_batches`), hands every batch of snippets to
the caller's ``encode`` and every video, once all its snippet results are in, to the caller's
``write``, in the order the videos finish.

Unreadable videos follow the ``on_bad_video`` policy (:data:`ON_BAD_VIDEO`): ``"error"``
stops with an :class:`~mist_steps.errors.InputError` naming the video; ``"skip"`` leaves it
out with a warning and returns it as a skipped row (video_id, path, split, reason).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mist_steps import SNIPPET_LEN
from mist_steps.data.snippets import (
    SnippetBatch,
    VideoDone,
    VideoFailed,
    snippet_batches,
)
from mist_steps.errors import InputError

log = logging.getLogger(__name__)
ON_BAD_VIDEO = ("error", "skip")


def check_on_bad_video(on_bad_video: str) -> None:
    if on_bad_video not in ON_BAD_VIDEO:
        raise ValueError(f"on_bad_video must be one of {ON_BAD_VIDEO}; got {on_bad_video!r}")


def expected_snippets(rows) -> int:
    """Snippets the index promises for ``rows`` (a videos.csv table): sum of frame_count // 16."""
    return int(sum(max(0, n) // SNIPPET_LEN for n in rows["frame_count"]))


def indexed_frames(row, event: VideoDone, log: logging.Logger = log) -> tuple[int, float | None]:
    """``(frame_count, fps)`` of a decoded video: the index's values where it has them, the
    decoder's otherwise; a warning when decoding gave another number of snippets than the
    index's frame count promises."""
    frame_count = int(row.frame_count) if row.frame_count > 0 else event.frame_count
    fps = float(row.fps) if not math.isnan(row.fps) else event.fps
    if event.frames_decoded // SNIPPET_LEN != frame_count // SNIPPET_LEN:
        log.warning("video %s: %d frames indexed but %d decoded: %d clips instead of %d",
                    row.video_id, frame_count, event.frames_decoded,
                    event.frames_decoded // SNIPPET_LEN, frame_count // SNIPPET_LEN)
    return frame_count, fps


@dataclass
class Streamed:
    """What :func:`stream_rows` went through: ``snippets`` encoded and the ``skipped`` rows."""

    snippets: int = 0
    skipped: list[dict] = field(default_factory=list)


def stream_rows(rows, batch_size: int, *, encode: Callable[[SnippetBatch], Iterable],
                write: Callable[[object, VideoDone, list], None], on_bad_video: str = "error",
                transform_factory=None, decode_threads: int = 0,
                progress: Callable[[int], object] | None = None,
                log: logging.Logger = log) -> Streamed:
    """Run every snippet of the videos of ``rows`` (a videos.csv table, in decoding order)
    through ``encode`` and hand each finished video to ``write``.

    ``encode(batch)``: the results of a :class:`~mist_steps.data.video.SnippetBatch`, one per
    snippet in order (extra results, e.g. of padding, are ignored).
    ``write(row, done, results)``: a video whose snippets all have their results: its table
    row, its :class:`~mist_steps.data.video.VideoDone` and the results in snippet order.
    ``progress(n)`` (optional) is told the number of snippets of each encoded batch.
    ``transform_factory`` and ``decode_threads`` go to :func:`~mist_steps.data.video.snippet_batches`;
    ``log`` is the logger of the skip warnings. The decoding thread is stopped on any error.
    """
    check_on_bad_video(on_bad_video)
    items = [(row.path, None if math.isnan(row.fps) else float(row.fps))
             for row in rows.itertuples(index=False)]
    pending: dict[int, list] = {}
    done: dict[int, VideoDone] = {}
    streamed = Streamed()
    events = snippet_batches(items, batch_size, transform_factory=transform_factory,
                             decode_threads=decode_threads)
    try:
        for event in events:
            if isinstance(event, SnippetBatch):
                for owner, result in zip(event.owners, encode(event)):
                    pending.setdefault(owner, []).append(result)
                streamed.snippets += len(event.snippets)
                if progress is not None:
                    progress(len(event.snippets))
            elif isinstance(event, VideoDone):
                done[event.index] = event
            elif isinstance(event, VideoFailed):
                pending.pop(event.index, None)
                row = rows.iloc[event.index]
                if on_bad_video == "error":
                    raise InputError(
                        f"video {row.video_id}: {event.reason}. To leave such videos out and "
                        f"list them in the skipped CSV instead, set on_bad_video: skip "
                        f"(--on-bad-video skip)")
                log.warning("skipping video %s: %s", row.video_id, event.reason)
                streamed.skipped.append({"video_id": row.video_id, "path": row.path,
                                         "split": row.split, "reason": event.reason})
            complete = [i for i, ev in done.items() if len(pending.get(i, ())) == ev.n_snippets]
            for index in complete:
                write(rows.iloc[index], done.pop(index), pending.pop(index))
    finally:
        events.close()  # stops the decoding thread on any error
    if pending or done:  # every video ends with one event: a bug if anything is left
        raise RuntimeError(f"incomplete videos after decoding: {sorted({*pending, *done})}")
    return streamed
