"""A fine-tuned MIST model ready to score snippets: what every stage-II scorer shares.

:class:`MISTScorer` reads a ``mist-model-v1`` file
(:func:`~mist_steps.formats.mist_model.load_mist_model`, ``weights_only`` loading) and knows
everything needed to run it from the file alone: the encoder (``arch``), its crop side
(``input_size``) and whether it has self-guided attention.
Snippets are preprocessed as extraction and the batch scoring step do it
(:mod:`mist_steps.data.preprocess`: frames resized by :meth:`MISTScorer.frame_resizer` as they are
decoded, one centre crop; or, with ``frame_size``, the whole frame resized to it: the official
code's I3D test input, and the default of a model trained on whole frames, its
``train_frame``), the model runs in eval mode under ``torch.inference_mode`` (bf16
autocast on CUDA, float32 on CPU), and each snippet gets its anomaly score softmax(H_c)[1]
(:func:`~mist_steps.models.sga.anomaly_probability`) and its spatial maps ``[h, w]`` (values
in [0, 1], over the centre crop or the whole frame): ``attention`` (SGA's A, with SGA) and
``cam`` (the anomalous class's activation map, :class:`~mist_steps.models.sga.MISTModel`).

Used by :mod:`mist_steps.steps.score_mist` (every test video, batched), :mod:`mist_steps.score`
(online, one snippet at a time) and :mod:`mist_steps.viz.explain` (attention of a video that the
score file does not hold).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from mist_steps import SNIPPET_LEN
from mist_steps.data.preprocess import FULL_FRAME, Preprocess
from mist_steps.errors import InputError
from mist_steps.formats.digest import weights_sha256
from mist_steps.formats.mist_model import load_mist_model
from mist_steps.models.sga import anomaly_probability, frame_size_problem
from mist_steps.training.devices import resolve_device

CROP_MODE = "center"  # stage II scores one centre crop per snippet unless given a frame size


class MISTScorer:
    """The MIST model of ``model_pt`` on ``device`` ('cpu', 'cuda', 'cuda:N', 'auto').

    Attributes: ``model`` (eval mode, on the device), ``meta`` (the file's meta), ``prep``
    (:class:`~mist_steps.data.preprocess.Preprocess`), ``device``, ``weights_sha256`` (of the
    weights as read), ``maps`` (the spatial maps each call returns: ``attention`` where the
    model has SGA, and ``cam``; none without ``keep_attention``).
    """

    def __init__(self, model_pt: str | os.PathLike, *, device: str = "cpu",
                 keep_attention: bool = True, frame_size: tuple[int, int] | None = None):
        self.path = Path(model_pt)
        model, self.meta = load_mist_model(model_pt)
        if frame_size is None:  # a model trained on whole frames scores them too
            frame_size = self.meta.get("settings", {}).get("train_frame")
        if frame_size is not None and (problem := frame_size_problem(model, frame_size)):
            h, w = frame_size
            raise InputError(f"frame size {h}x{w} does not fit the {model.arch} model "
                             f"{self.path} ({problem}); use sides that are multiples of 32, or "
                             f"score centre crops (no frame size)")
        self.prep = Preprocess(model.arch, model.input_size,
                               CROP_MODE if frame_size is None else FULL_FRAME, frame_size)
        self.weights_sha256 = weights_sha256(model)  # on CPU, before any move to a GPU
        self.device = resolve_device(device)
        if self.device.type == "cuda":  # same algorithms whatever the batch neighbours
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        self.model = model.to(self.device).eval()
        self.maps: tuple[str, ...] = ()
        if keep_attention:
            self.maps = ("attention", "cam") if model.use_sga else ("cam",)

    @property
    def arch(self) -> str:
        return self.model.arch

    @property
    def use_sga(self) -> bool:
        return self.model.use_sga

    def frame_resizer(self) -> Callable[[np.ndarray], np.ndarray]:
        """A fresh per-video frame transform (resize to the encoder's input recipe)."""
        return self.prep.frame_resizer()

    def __call__(self, snippets: Sequence[np.ndarray], *, pad_to: int | None = None
                 ) -> list[tuple[float, dict[str, np.ndarray]]]:
        """``(score, {map name: [h, w]})`` of each resized uint8 snippet ``[16, H, W, 3]``,
        in order (the maps of :attr:`maps`). ``pad_to``: run the model on that many snippets
        (zero snippets appended), so the batch shape never changes."""
        with torch.inference_mode(), torch.autocast(
                "cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = self.model(self.prep.clips(snippets, pad_to=pad_to, device=self.device))
            scores = anomaly_probability(out.logits).cpu().numpy()
            maps = {name: getattr(out, name).float().cpu().numpy() for name in self.maps}
        return [(float(scores[i]), {name: m[i] for name, m in maps.items()})
                for i in range(len(snippets))]

    def warm_up(self, height: int, width: int) -> None:
        """One call on a black snippet of resized frames of a ``height`` x ``width`` video,
        so the first real snippet does not pay for the first call's set-up."""
        black = self.frame_resizer()(np.zeros((height, width, 3), dtype=np.uint8))
        self([np.repeat(black[None], SNIPPET_LEN, axis=0)])
