"""What the benchmark entries share: result rows and their table, side-by-side timing, and the
inputs the suite makes itself (synthetic videos, random encoders, index files).

Every figure of the suite is a ratio or a scaling measured in one run, because the machines
this project runs on are shared and their speed changes from one minute to the next: two
things timed in turns (:func:`side_by_side`) see about the same machine.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

# The synthetic default's frames and encoder input (config.yaml: synth 96x96, input_size 64).
SYNTH_FRAME = 96
SYNTH_INPUT = 64


# -- results ------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the suite's table. ``value`` is None when the entry did not measure
    (``status`` then says why, e.g. "skipped: no CUDA"); ``goal`` is ``(op, bound)`` with op
    one of ">=", "<=", "==", or None for a figure shown without a goal."""

    key: str
    name: str
    value: float | None
    unit: str = ""
    goal: tuple[str, float] | None = None
    detail: str = ""
    status: str = "measured"
    extra: dict = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.value is None or self.goal is None or not math.isfinite(self.value):
            return None
        op, bound = self.goal
        return {">=": self.value >= bound, "<=": self.value <= bound,
                "==": self.value == bound}[op]

    def as_dict(self) -> dict:
        return {**asdict(self), "met": self.met}


def skipped(key: str, name: str, why: str, goal=None, unit: str = "") -> Row:
    return Row(key, name, None, unit, goal, status=f"skipped: {why}")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("ratio", "x"):
        return f"{value:.3f}"
    if unit == "jobs":
        return f"{value:.0f}"
    return f"{value:.2f} {unit}".strip()


def format_table(rows: Sequence[Row]) -> str:
    """The suite's table (Markdown, so it pastes into the README as it is)."""
    lines = ["| # | figure | value | goal | met | how measured |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        goal = f"{r.goal[0]} {r.goal[1]:g}" if r.goal else ""
        met = {True: "yes", False: "NO", None: ""}[r.met]
        value = _fmt(r.value, r.unit) if r.value is not None else r.status
        lines.append(f"| {r.key} | {r.name} | {value} | {goal} | {met} | {r.detail} |")
    return "\n".join(lines)


# -- timing -------------------------------------------------------------------------------------
@dataclass
class SideBySide:
    """Rates of a reference ``a`` and a candidate ``b`` timed in turns, and the ratios b / a
    (each ``b`` run against the mean of the ``a`` runs just before and after it)."""

    a: list[float]
    b: list[float]
    ratios: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


def per_run(ratios: Sequence[float]) -> str:
    """``"per run: 0.93, 0.97, 0.95"`` - the spread behind a median ratio."""
    return "per run: " + ", ".join(f"{r:.2f}" for r in ratios)


def side_by_side(a: Callable[[], float], b: Callable[[], float], repeats: int,
                 bracket: bool = True) -> SideBySide:
    """Run ``a b a b ... a`` (``repeats`` runs of ``b``); each callable returns a rate (higher
    is faster). Other jobs on a shared machine come and go: comparing each ``b`` with its two
    neighbours and taking the median keeps their effect on the ratio small. Without
    ``bracket`` the closing ``a`` is left out and each ``b`` is compared with the ``a`` just
    before it (quick mode: fewer runs, a noisier ratio)."""
    ra, rb = [a()], []
    for i in range(max(1, repeats)):
        rb.append(b())
        if bracket or i < repeats - 1:
            ra.append(a())
    if bracket:
        ratios = [y / ((x0 + x1) / 2) for y, x0, x1 in zip(rb, ra, ra[1:])]
    else:
        ratios = [y / x for y, x in zip(rb, ra)]
    return SideBySide(ra, rb, ratios)


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """``(fn(), seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# -- inputs -------------------------------------------------------------------------------------
def render_synth_video(path: Path, n_frames: int, size: int = SYNTH_FRAME, *, index: int = 1,
                       cls: str = "Fighting", split: str = "train") -> int:
    """One video of the synthetic benchmark's renderer (mist_steps.synth.scene), ``n_frames`` long
    (at least 40 for an anomalous class; lengths that are multiples of 16 get one frame less,
    as the benchmark renders them), square ``size``. Returns the number of frames written."""
    from mist_steps.synth.benchmark import encode_video, pick_codec
    from mist_steps.synth.plan import plan_video
    from mist_steps.synth.scene import iter_frames

    spec = plan_video(0, split, cls, index, min_frames=n_frames, max_frames=n_frames,
                      height=size, width=size, zoom=2.5, crowd=0.5, hard_negatives=0.2)
    return encode_video(path, (img for img, _ in iter_frames(spec)), width=size, height=size,
                        fps=25, encoder=pick_codec("h264"), crf=20)


INDEX_COLUMNS = "video_id,path,split,label,class,frame_count,fps\n"


def write_index(path: Path, videos: Sequence[tuple[Path, int, int, str]]) -> Path:
    """A videos.csv of ``(video path, frame count, label, split)`` rows (25 fps)."""
    lines = [f"{p.stem},{p},{split},{label},{'Fighting' if label else 'Normal'},{n},25.0\n"
             for p, n, label, split in videos]
    path.write_text(INDEX_COLUMNS + "".join(lines))
    return path


def calibrate(model: torch.nn.Module, batches: Sequence[torch.Tensor]) -> None:
    """Set BatchNorm statistics from real clips, so activations have a trained network's
    scale (a fresh network's shrink into subnormal floats, which CPUs process far slower,
    and would distort every comparison)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for x in batches:
            model.forward_features(x, ["feature"])
    model.eval()


def random_encoder(path: Path, arch: str, clips: Sequence[torch.Tensor], seed: int = 0):
    """A random-weight encoder calibrated on ``clips`` (encoder input batches), saved in the
    workflow's encoder format at ``path``; returns the model."""
    from mist_steps.formats.encoder_file import save_encoder
    from mist_steps.models import build_encoder

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_encoder(arch, 10)
    calibrate(model, clips)
    save_encoder(path, model, {"stage": "benchmark"})
    return model


def snippet_batches_of(video: Path, prep, batch: int) -> tuple[list[torch.Tensor], int]:
    """The video's snippets as encoder input in full batches (the last one zero-padded, as
    extraction pads it), and the number of snippets."""
    from mist_steps.data.snippets import SnippetReader
    from mist_steps.data.video import open_video

    snippets = list(SnippetReader(open_video(video), transform=prep.frame_resizer()))
    return [prep.clips(snippets[i:i + batch], pad_to=batch)
            for i in range(0, len(snippets), batch)], len(snippets)


def threads_text(n: int) -> str:
    return f"{n} thread{'' if n == 1 else 's'}"
