"""Snippet-feature files (HDF5): one per dataset x encoder x stage, written and read here.

Layout (``format = "mist-features-v1"``), e.g. ``results/synth_i3d/features_vanilla.h5``::

    /                         root attributes: format, snippet_len (16), dtype, n_crops, dim,
                              source ("extracted" | "imported"), and the run attributes
                              encoder, weights_sha256, crop_mode, input_size, feature
                              (plus provenance extras, e.g. encoder_meta, source_sha256)
    /features/<video_id>      [n_clips, n_crops, dim] - clip i covers frames 16i .. 16i+15
                              attributes: fps, frame_count, n_frames_decoded and the run
                              attributes again (so one dataset copied elsewhere stays labelled)
    /meta/<name>              optional JSON documents (shard bookkeeping, skipped videos)

``frame_count`` is the dataset index's count (what the ground truth is cut to) and
``n_frames_decoded`` what decoding actually gave (-1 when not decoded, e.g. imported); clips =
``n_frames_decoded // 16``. ``fps`` is NaN where unknown (frame folders without a rate).

Videos without features (unreadable, or no precomputed file) are listed in a CSV beside the
file (:func:`write_skipped`): columns ``video_id, path, split, reason``, header always present.

Storage choices
---------------
* dtype float16 by default. It halves the size of float32 (UCF-Crime's 10-crop I3D features,
  ~0.86 M clips x 10 x 1024, go from ~35 GB to ~17 GB, which then fits in RAM for training) and
  keeps a relative precision of 2^-11 = 5e-4 for |x| in [6e-5, 65504], far below the noise of
  MIL training on video-level labels. Values above 65504 are refused with an error (use
  ``dtype="float32"``); a warning is logged when many non-zero values are below 6e-5, where
  float16 loses precision (features of a badly scaled encoder). Readers always return float32.
* chunks: whole clips with all crops (``[rows, n_crops, dim]``, every crop of a clip in the
  same chunk: the MIL stages read whole videos, all crops), ``rows`` sized to ~1 MiB, so a
  typical video is one chunk (centre crop) or a handful (10-crop), and a partial read (one time
  window) decodes at most ~1 MiB more than it needs.
* compression: ``gzip`` level 1 behind the byte ``shuffle`` filter - it pays about 20%.
  Measured on real-ish features (the GoldenEye clip through an I3D whose BatchNorm statistics
  were calibrated on that footage: post-ReLU pooled Mixed_5c, mean 0.45, 1-8% zeros), float16,
  videos of ~450 clips; stored size relative to raw, and read speed on a busy 2-core machine:

  ====================  ===========  ===========  =================
  filter                centre crop  10 crops     read (MB/s)
  ====================  ===========  ===========  =================
  none                  1.00         1.00         780-830
  lzf                   1.00         0.99         340-660
  lzf + shuffle         0.90         0.94         210-610
  gzip 4                0.84         0.85         180-470
  gzip 1 + shuffle      0.78         0.80         165-545
  gzip 9 + shuffle      0.77         0.79         160-335
  ====================  ===========  ===========  =================

  lzf gains nothing without shuffle (float mantissas look random); shuffle groups the exponent
  bytes, where the redundancy of these non-negative values is. Level 1 compresses as well as 9
  and writes fastest; reading at >150 MB/s (~2 min for all of UCF-Crime 10-crop) is far from
  the bottleneck of training. Compression also makes the partly filled last chunk of a video
  cost nothing (uncompressed chunks are stored full size).

All writers are atomic (a temporary file renamed at the end), so a killed job never leaves a
file that looks complete. Readers check the format and that every value is finite: NaN/inf is
an :class:`~mist_steps.errors.InputError` naming the video and the file.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import h5py
import numpy as np

from mist_steps.errors import InputError
from mist_steps.formats.h5 import AtomicH5Writer, open_artifact, plain

log = logging.getLogger(__name__)


FORMAT = "mist-features-v1"


GROUP = "features"


META = "meta"


RUN_ATTRS = ("encoder", "weights_sha256", "crop_mode", "input_size", "feature")


VIDEO_ATTRS = ("fps", "frame_count", "n_frames_decoded")


DTYPES = ("float16", "float32")


CHUNK_BYTES = 1 << 20


COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}


FLOAT16_MAX = float(np.finfo(np.float16).max)


FLOAT16_TINY = float(np.finfo(np.float16).tiny)  # smallest normal float16, 6.1e-5


SOURCES = ("extracted", "imported")


def chunk_rows(n_crops: int, dim: int, itemsize: int, n_clips: int) -> int:
    """Clips per chunk: ~``CHUNK_BYTES``, at least 1, at most the video."""
    return max(1, min(n_clips, CHUNK_BYTES // max(1, n_crops * dim * itemsize)))


class FeatureWriter(AtomicH5Writer):
    """Write a feature file atomically: use as a context manager, then :meth:`add` videos.

    ``run_attrs``: encoder, weights_sha256, crop_mode, input_size, feature (all required);
    ``source``: "extracted" or "imported"; ``extra_attrs``: further root attributes (plain
    scalars/strings). ``n_crops``/``dim`` are fixed by the first video unless given.
    The file appears at ``path`` only when the ``with`` block ends without an exception.
    """

    def __init__(self, path: str | os.PathLike, run_attrs: Mapping[str, object], *,
                 source: str = "extracted", dtype: str = "float16",
                 extra_attrs: Mapping[str, object] | None = None,
                 n_crops: int | None = None, dim: int | None = None):
        missing = [k for k in RUN_ATTRS if k not in run_attrs]
        if missing:
            raise ValueError(f"run attributes missing: {missing}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}; got {dtype!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}; got {source!r}")
        super().__init__(path, FORMAT)
        self.run_attrs = {k: run_attrs[k] for k in RUN_ATTRS}
        self.source = source
        self.dtype = np.dtype(dtype)
        self.extra_attrs = dict(extra_attrs or {})
        self.n_crops, self.dim = n_crops, dim
        self.videos: list[str] = []
        self._tiny_warned = False

    def _start(self) -> None:
        attrs = self._h5.attrs
        attrs["dtype"] = self.dtype.name
        attrs["source"] = self.source
        for key, value in {**self.run_attrs, **self.extra_attrs}.items():
            attrs[key] = value
        self._h5.create_group(GROUP)
        self._set_shape(self.n_crops, self.dim)

    def _set_shape(self, n_crops, dim) -> None:
        if n_crops is not None:
            self.n_crops = int(n_crops)
            self._h5.attrs["n_crops"] = self.n_crops
        if dim is not None:
            self.dim = int(dim)
            self._h5.attrs["dim"] = self.dim

    def _check_shape(self, video_id: str, shape: tuple[int, ...]) -> None:
        if len(shape) != 3 or shape[0] < 1:
            raise ValueError(f"video {video_id}: features must be [n_clips >= 1, n_crops, dim]; "
                             f"got {shape}")
        if self.n_crops is None:
            self._set_shape(shape[1], None)
        if self.dim is None:
            self._set_shape(None, shape[2])
        if (shape[1], shape[2]) != (self.n_crops, self.dim):
            raise ValueError(f"video {video_id}: features {shape} do not match the file's "
                             f"[*, {self.n_crops}, {self.dim}]")

    def _check_values(self, video_id: str, features: np.ndarray) -> None:
        if not np.isfinite(features).all():
            raise InputError(f"{self.path}: features of video {video_id} contain NaN/inf; "
                             f"check the encoder or the source features")
        if self.dtype == np.float16:
            peak = float(np.abs(features).max())
            if peak > FLOAT16_MAX:
                raise InputError(
                    f"{self.path}: video {video_id} has feature values up to {peak:.4g}, beyond "
                    f"the float16 range ({FLOAT16_MAX:.0f}); store float32 (dtype: float32)")
            nonzero = features[features != 0]
            if (not self._tiny_warned and nonzero.size
                    and np.mean(np.abs(nonzero) < FLOAT16_TINY) > 0.01):
                log.warning("%s: many feature values of %s are below %.1e, where float16 keeps "
                            "less precision; consider dtype float32", self.path, video_id,
                            FLOAT16_TINY)
                self._tiny_warned = True

    def add(self, video_id: str, features: np.ndarray, *, fps: float | None, frame_count: int,
            n_frames_decoded: int, extra_attrs: Mapping[str, object] | None = None) -> None:
        """Store ``features`` [n_clips, n_crops, dim] of ``video_id`` with its attributes
        (``extra_attrs``: further ones, e.g. provenance)."""
        if self._h5 is None:
            raise RuntimeError("FeatureWriter.add outside its with block")
        if not video_id or "/" in video_id or video_id in (".", ".."):
            raise ValueError(f"video id {video_id!r} cannot name an HDF5 dataset")
        if video_id in self._h5[GROUP]:
            raise ValueError(f"video {video_id} written twice to {self.path}")
        features = np.asarray(features)
        self._check_shape(video_id, features.shape)
        self._check_values(video_id, features)
        rows = chunk_rows(self.n_crops, self.dim, self.dtype.itemsize, features.shape[0])
        ds = self._h5[GROUP].create_dataset(
            video_id, data=features.astype(self.dtype, copy=False),
            chunks=(rows, self.n_crops, self.dim), **COMPRESSION)
        for key, value in self.run_attrs.items():
            ds.attrs[key] = value
        ds.attrs["fps"] = math.nan if fps is None else float(fps)
        ds.attrs["frame_count"] = int(frame_count)
        ds.attrs["n_frames_decoded"] = int(n_frames_decoded)
        for key, value in (extra_attrs or {}).items():
            ds.attrs[key] = value
        self.videos.append(video_id)

    def copy_from(self, source: h5py.File, video_id: str) -> None:
        """Copy one video's dataset from an open feature file as stored (no re-encoding)."""
        src = source[GROUP][video_id]
        self._check_shape(video_id, src.shape)
        if src.dtype != self.dtype:
            raise ValueError(f"video {video_id}: stored as {src.dtype}, this file holds "
                             f"{self.dtype}")
        source.copy(src, self._h5[GROUP], name=video_id)
        self.videos.append(video_id)

    def set_root_attrs(self, attrs: Mapping[str, object]) -> None:
        """Add root attributes known only at the end (e.g. a checksum over all inputs)."""
        for key, value in attrs.items():
            self._h5.attrs[key] = value

    def set_meta(self, name: str, document) -> None:
        """Store a JSON-serialisable ``document`` as ``/meta/<name>``."""
        group = self._h5.require_group(META)
        if name in group:
            del group[name]
        group.create_dataset(name, data=json.dumps(document), dtype=h5py.string_dtype())


class FeatureFile:
    """An open feature file for reading (context manager). Prefer it to the one-shot
    functions below when reading many videos."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._h5 = open_artifact(self.path, (FORMAT,), "feature file", "the extraction (or import) step")
        if GROUP not in self._h5:
            self._h5.close()
            raise InputError(f"{self.path}: a {FORMAT} file without its {GROUP} group; rebuild it "
                             f"with the extraction or import step")

    def __enter__(self) -> FeatureFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    @property
    def h5(self) -> h5py.File:
        return self._h5

    def videos(self) -> list[str]:
        return sorted(self._h5[GROUP])

    def attrs(self, video_id: str | None = None) -> dict:
        obj = self._h5 if video_id is None else self._dataset(video_id)
        return {k: plain(v) for k, v in obj.attrs.items()}

    def _dataset(self, video_id: str) -> h5py.Dataset:
        try:
            return self._h5[GROUP][video_id]
        except KeyError:
            raise InputError(f"{self.path}: no features for video {video_id!r}; the file holds "
                             f"{len(self._h5[GROUP])} videos (was it skipped? see the skipped "
                             f"list beside the file)") from None

    def read(self, video_id: str) -> np.ndarray:
        """Features of ``video_id`` as float32 [n_clips, n_crops, dim], checked finite."""
        x = self._dataset(video_id)[()].astype(np.float32, copy=False)
        bad = ~np.isfinite(x)
        if bad.any():
            raise InputError(f"{self.path}: features of video {video_id} contain "
                             f"{int(bad.sum())} NaN/inf value(s); re-extract or re-import them")
        return x

    def meta(self, name: str, default=None):
        if META in self._h5 and name in self._h5[META]:
            return json.loads(plain(self._h5[META][name][()]))
        return default

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for video_id in self.videos():
            yield video_id, self.read(video_id)


def read_features(path: str | os.PathLike, video_id: str) -> np.ndarray:
    """Features of one video, float32 [n_clips, n_crops, dim]; NaN/inf is an InputError."""
    with FeatureFile(path) as f:
        return f.read(video_id)


def list_videos(path: str | os.PathLike) -> list[str]:
    """Video ids with features in ``path``, sorted."""
    with FeatureFile(path) as f:
        return f.videos()


def read_attrs(path: str | os.PathLike, video_id: str | None = None) -> dict:
    """Root attributes of ``path``, or those of one video's dataset."""
    with FeatureFile(path) as f:
        return f.attrs(video_id)


def read_meta(path: str | os.PathLike, name: str, default=None):
    """The JSON document ``/meta/<name>`` of ``path`` (``default`` if absent)."""
    with FeatureFile(path) as f:
        return f.meta(name, default)
