"""Step (command line, outside the workflow): score a video or live stream online with MIST.

``python -m mist_steps.score --model results/synth_i3d/encoder_mist.pt INPUT``

``INPUT`` is a video file, ``-`` (a video container arriving on standard input) or any URL
FFmpeg opens (``rtsp://``, ``http://``, ``udp://``, ...); see :mod:`mist_steps.data.streams`. The
frames are decoded as they arrive; every non-overlapping 16-frame snippet is scored as soon as
its last frame is decoded, by the fine-tuned model exactly as the batch scoring step
:mod:`mist_steps.steps.score_mist` scores test videos (:class:`~mist_steps.inference.mist_scorer.MISTScorer`:
encoder, input size and attention come from the model file; one centre crop, or with
``--frame-size H W`` the whole frame resized, as a dataset's ``test_frame`` scores it), and
one JSON line per snippet goes to standard output, flushed at once::

    {"snippet": 3, "start_frame": 48, "end_frame": 63, "start_s": 1.92, "end_s": 2.56,
     "score": 0.812345, "alarm": true}

``start_frame``/``end_frame``: the snippet's first and last frame (inclusive, counted from the
first decoded frame); ``start_s``/``end_s``: ``start_frame / fps`` and ``(end_frame + 1) / fps``
(null when the stream has no frame rate); ``score``: softmax(H_c)[1], rounded to 6 places;
``alarm``: ``score > threshold``. The trailing frames that do not fill a snippet are not scored,
as in the workflow. ``--out scores.csv`` also writes the same fields, one row per snippet
(written atomically when the input ends, also when it ends in an error: then it holds the
snippets printed before it).

Nothing else goes to standard output: messages and a closing summary (snippets, frames, time,
frames per second, the real-time factor = frames per second / the stream's fps, and the latency
from a snippet's last frame decoded to its line flushed, median and max) go to standard error.
The model is run once on a black snippet before the input is opened, so the first snippet's
latency is like the others'. Torch runs on ``--threads`` threads, 1 by default: on a machine
whose cores are busy with other work, two threads measured 3-5 times slower than one (their
synchronisation waits for descheduled threads); more threads pay off only on idle cores.

Exit status: 0 when the input ended normally; 2 with ``error: ...`` on standard error when the
input cannot be read, is not a video, or breaks off (a truncated file, a pipe cut mid-stream);
130 when interrupted (Ctrl-C, SIGTERM). In every case the lines already printed are whole
lines, and the error names how many snippets were scored before it. When the reader of
standard output goes away (``| head``), the step stops quietly.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, at_least, run_cli
from mist_steps.data.snippets import SnippetReader
from mist_steps.data.streams import open_stream
from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path
from mist_steps.inference.mist_scorer import MISTScorer

log = logging.getLogger(__name__)
FIELDS = ("snippet", "start_frame", "end_frame", "start_s", "end_s", "score", "alarm")


class Interrupted(Exception):
    """SIGTERM (or Ctrl-C) while scoring."""


def snippet_line(index: int, score: float, fps: float | None, threshold: float) -> dict:
    """The record of snippet ``index`` (module docstring)."""
    start, end = index * SNIPPET_LEN, (index + 1) * SNIPPET_LEN - 1

    def seconds(frame: int):
        return None if not fps else round(frame / fps, 4)

    return {"snippet": index, "start_frame": start, "end_frame": end,
            "start_s": seconds(start), "end_s": seconds(end + 1),
            "score": round(float(score), 6), "alarm": bool(score > threshold)}


def write_csv(path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({**r, "alarm": int(r["alarm"])} for r in rows)


def _print_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _stats(rows: list[dict], latencies: list[float], frames: int, seconds: float,
           fps: float | None) -> dict:
    rate = frames / seconds if seconds > 0 else 0.0
    return {"snippets": len(rows), "frames": frames, "seconds": round(seconds, 3),
            "frames_per_second": round(rate, 2),
            "realtime_factor": round(rate / fps, 2) if fps else None,
            "latency_ms_median": round(1e3 * statistics.median(latencies), 1)
            if latencies else None,
            "latency_ms_max": round(1e3 * max(latencies), 1) if latencies else None}


def score_stream(model_pt, source: str, *, threshold: float = 0.5, out_csv=None,
                 format: str | None = None, options: dict | None = None,
                 timeout: float | None = None, threads: int = 1, device: str = "cpu",
                 frame_size: tuple[int, int] | None = None,
                 emit: Callable[[str], None] = _print_line,
                 clock: Callable[[], float] = time.perf_counter) -> dict:
    """Score ``source`` snippet by snippet (module docstring); ``emit`` receives each JSON
    line. Returns the summary (:func:`_stats`) plus ``rows`` and ``latencies_s`` (per
    snippet). An :class:`InputError` of the input is re-raised, naming how many snippets were
    scored before it."""
    if threads < 1:
        raise InputError(f"threads must be >= 1; got {threads}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return _score_stream(model_pt, source, threshold, out_csv, format, options, timeout,
                             device, frame_size, emit, clock)
    finally:
        torch.set_num_threads(previous_threads)


def _score_stream(model_pt, source, threshold, out_csv, format, options, timeout, device,
                  frame_size, emit, clock) -> dict:
    if not Path(model_pt).is_file():
        raise InputError(f"{model_pt}: model not found; --model takes a fine-tuned MIST model, "
                         f"results/<run>/encoder_mist.pt of a workflow run")
    scorer = MISTScorer(model_pt, device=device, keep_attention=False, frame_size=frame_size)
    side = scorer.prep.frame_size or (scorer.prep.crop, scorer.prep.crop)
    log.info("model %s: %s on %dx%d px, SGA %s, on %s", model_pt, scorer.arch, *side,
             "on" if scorer.use_sga else "off", scorer.device)
    scorer.warm_up(*side)
    video = open_stream(source, format=format, options=options, timeout=timeout)
    log.info("reading %s (%s, %s fps%s)", video.path, video.container_format,
             f"{video.fps:g}" if video.fps else "unknown",
             f", {video.frame_count} frames declared" if video.frame_count else "")
    reader = SnippetReader(video, transform=scorer.frame_resizer(), threads=1)
    rows: list[dict] = []
    latencies: list[float] = []
    started = clock()
    try:
        for snippet in reader:
            ready = clock()  # its last frame was just decoded (and resized)
            (score, _), = scorer([snippet])
            row = snippet_line(len(rows), score, video.fps, threshold)
            emit(json.dumps(row))
            latencies.append(clock() - ready)
            rows.append(row)
    except InputError as err:
        raise InputError(f"{err} [{len(rows)} snippet(s) scored before this; their lines "
                         f"stand]") from None
    finally:
        stats = _stats(rows, latencies, reader.frames_decoded, clock() - started, video.fps)
        if out_csv is not None:
            write_csv(out_csv, rows)
        if rows:
            log.info("%d snippets, %d frames in %.2f s: %.1f frames/s (real-time factor %s); "
                     "latency last frame -> line: median %s ms, max %s ms", stats["snippets"],
                     stats["frames"], stats["seconds"], stats["frames_per_second"],
                     stats["realtime_factor"], stats["latency_ms_median"],
                     stats["latency_ms_max"])
    return {**stats, "rows": rows, "latencies_s": latencies}


def _on_sigterm(signum, frame):
    raise Interrupted("terminated")


class _OptionPair(argparse.Action):
    """``--option KEY=VALUE``, repeatable, collected into a dict."""

    def __call__(self, parser, namespace, value, option_string=None):
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise InputError(f"--option {value!r}: expected KEY=VALUE, e.g. rtsp_transport=tcp")
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), key: text})


def main(argv: list[str] | None = None) -> None:
    p = StepParser(score_stream, "Score a video file, a pipe or a live stream with a fine-tuned "
                   "MIST model as it is decoded: one JSON line per 16-frame snippet on stdout. "
                   "The synthetic default's model (results/synth_i3d/encoder_mist.pt) has only "
                   "seen rendered scenes: score real video with a model trained on real data.",
                   prog="python -m mist_steps.score")
    p.add_argument("source", metavar="INPUT",
                   help="video file, '-' for a video container on stdin, or a URL FFmpeg opens "
                   "(rtsp://, http://, udp://, ...)")
    p.add_argument("--model", required=True,
                   help="fine-tuned MIST model (results/<run>/encoder_mist.pt)")
    p.add_argument("--threshold", type=float, help="alarm when a snippet's score is above this")
    p.add_argument("--out", dest="out_csv", help="also write the snippets to this CSV file")
    p.add_argument("--format", "-f",
                   help="force the input's container format (FFmpeg name, e.g. mpegts)")
    p.add_argument("--option", dest="options", action=_OptionPair, metavar="KEY=VALUE",
                   help="FFmpeg input option, repeatable (e.g. rtsp_transport=tcp)")
    p.add_argument("--timeout", type=float, help="seconds to wait for the input to open and "
                   "for each read (default: forever)")
    p.add_argument("--threads", type=at_least(1), help="torch CPU threads (1: steady latency "
                   "beside other work; more help only on otherwise idle cores)")
    p.shared("device")
    p.add_argument("--frame-size", type=at_least(32), nargs=2, metavar=("H", "W"),
                   help="score the whole frame resized to H x W, no crop, as the workflow "
                   "scores a dataset with test_frame (default: the model's train_frame, "
                   "else its centre crop)")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        p.run(argv)
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; the lines printed so far stand", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


def entry() -> None:
    """The ``mist-score`` command (``[project.scripts]``)."""
    run_cli(main)


if __name__ == "__main__":
    entry()
