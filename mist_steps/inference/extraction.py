"""Feature extraction pieces shared by the extract_shard and gather_features steps: shards, feature
kinds, the shard document.
"""

from __future__ import annotations

from mist_steps.data.preprocess import CROP_MODES
from mist_steps.data.snippet_stream import check_on_bad_video
from mist_steps.errors import InputError
from mist_steps.formats.features import DTYPES, RUN_ATTRS, FeatureFile

# Vector features a step can store: name → encoders offering it. "default" picks the protocol's.
FEATURES = {"i3d": ("feature",), "c3d": ("fc6", "feature")}
DEFAULT_FEATURE = {"i3d": "feature", "c3d": "fc6"}
SHARD_META = "shard"


# Root attributes a writer sets itself; the rest of a shard's root attributes carry over.
_OWN_ATTRS = {"format", "snippet_len", "dtype", "source", "n_crops", "dim", "n_videos",
              *RUN_ATTRS}


def shard_of(position: int, num_shards: int) -> int:
    """Shard of the video at ``position`` in the index sorted by video_id."""
    return position % num_shards


def resolve_feature(arch: str, feature: str, crop: int, encoder_path) -> str:
    """The feature kind to store for ``feature`` ('default' or a kind name)."""
    kind = DEFAULT_FEATURE[arch] if feature == "default" else feature
    if kind not in FEATURES[arch]:
        raise InputError(f"feature {feature!r} is not available for the {arch} encoder "
                         f"{encoder_path}; choose 'default' or one of {list(FEATURES[arch])}")
    if kind == "fc6" and crop != 112:
        raise InputError(f"C3D fc6 features need 112-pixel crops (the dense fc6 layer is sized "
                         f"for them) but input_size is {crop}; set input_size to 112 or "
                         f"feature to 'feature' (pooled conv5b, 512-d)")
    return kind


def _check_args(shard_index, num_shards, crop_mode, batch_size, threads, on_bad_video, dtype):
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"need 0 <= shard_index < num_shards; got {shard_index} of {num_shards}")
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop_mode must be one of {list(CROP_MODES)}; got {crop_mode!r}")
    if batch_size < 1 or threads < 1:
        raise ValueError(f"batch_size and threads must be >= 1; got {batch_size}, {threads}")
    check_on_bad_video(on_bad_video)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}; got {dtype!r}")


# -- gather -------------------------------------------------------------------------------------
def _shard_doc(f: FeatureFile) -> dict:
    doc = f.meta(SHARD_META)
    if not isinstance(doc, dict) or not {"index", "num_shards", "assigned", "skipped"} <= set(doc):
        raise InputError(f"{f.path}: not a shard file of the extraction step (no shard "
                         f"record); gather only merges files written by `extract shard`")
    return doc
