"""A fine-tuned MIST model ready to score snippets: what every stage-II scorer shares.

:class:`MISTScorer` reads a ``mist-model-v1`` file
(:func:`~mist_steps.formats.mist_model.load_mist_model`, ``weights_only`` loading) and knows
everything needed to run it from the file alone: the encoder (``arch``), its crop side
(``input_size``) and whether it has self-guided attention.
Snippets are preprocessed as extraction and the batch scoring step do it
(:mod:`mist_steps.data.preprocess`: frames resized by :meth:`MISTScorer.frame_resizer` as they are
decoded, one centre crop), the model runs in eval mode under ``torch.inference_mode`` (bf16
autocast on CUDA, float32 on CPU), and each snippet gets its anomaly score softmax(H_c)[1]
(:func:`~mist_steps.models.sga.anomaly_probability`) and, with SGA, its attention map
``[h, w]`` (values in [0, 1], over the centre crop).

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
from mist_steps.data.preprocess import Preprocess
from mist_steps.formats.digest import weights_sha256
from mist_steps.formats.mist_model import load_mist_model
from mist_steps.models.sga import anomaly_probability
from mist_steps.training.devices import resolve_device

CROP_MODE = "center"  # stage II scores one centre crop per snippet


class MISTScorer:
    """The MIST model of ``model_pt`` on ``device`` ('cpu', 'cuda', 'cuda:N', 'auto').

    Attributes: ``model`` (eval mode, on the device), ``meta`` (the file's meta), ``prep``
    (:class:`~mist_steps.data.preprocess.Preprocess`), ``device``, ``weights_sha256`` (of the
    weights as read), ``keep_attention`` (``keep_attention`` and the model has SGA).
    """

    def __init__(self, model_pt: str | os.PathLike, *, device: str = "cpu",
                 keep_attention: bool = True):
        self.path = Path(model_pt)
        model, self.meta = load_mist_model(model_pt)
        self.prep = Preprocess(model.arch, model.input_size, CROP_MODE)
        self.weights_sha256 = weights_sha256(model)  # on CPU, before any move to a GPU
        self.device = resolve_device(device)
        if self.device.type == "cuda":  # same algorithms whatever the batch neighbours
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        self.model = model.to(self.device).eval()
        self.keep_attention = bool(keep_attention and model.use_sga)

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
                 ) -> list[tuple[float, np.ndarray | None]]:
        """``(score, attention [h, w] or None)`` of each resized uint8 snippet
        ``[16, H, W, 3]``, in order. ``pad_to``: run the model on that many snippets (zero
        snippets appended), so the batch shape never changes."""
        with torch.inference_mode(), torch.autocast(
                "cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = self.model(self.prep.clips(snippets, pad_to=pad_to, device=self.device))
            scores = anomaly_probability(out.logits).cpu().numpy()
            att = out.attention.float().cpu().numpy() if self.keep_attention else None
        return [(float(scores[i]), None if att is None else att[i])
                for i in range(len(snippets))]

    def warm_up(self, height: int, width: int) -> None:
        """One call on a black snippet of resized frames of a ``height`` x ``width`` video,
        so the first real snippet does not pay for the first call's set-up."""
        black = self.frame_resizer()(np.zeros((height, width, 3), dtype=np.uint8))
        self([np.repeat(black[None], SNIPPET_LEN, axis=0)])
