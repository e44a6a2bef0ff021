# Helpers shared by the rules: dataset lookup and the checks that must fail before any
# job starts. Everything here only reads the config; steps get values through params.
import json
import shlex

from snakemake.exceptions import WorkflowError

from mist_steps.datasets import expected_videos, missing_dataset_message

# Where the synthetic benchmark is rendered (rules/synth.smk).
SYNTH_DATA = "results/synth/data"


def dataset_config(name):
    """The config entry of dataset `name`, or an error that lists the configured ones."""
    try:
        return config["datasets"][name]
    except KeyError:
        raise ValueError(
            f"dataset '{name}' is not configured; config.yaml `datasets:` has "
            f"{', '.join(sorted(config['datasets']))}"
        ) from None


def encoder_config(name):
    return config["encoders"][name]


def stage1_config(dataset, encoder):
    """The settings behind a generator result, recorded in its metrics JSON."""
    return {
        "dataset": dataset_config(dataset),
        "encoder": encoder_config(encoder),
        "extract": config["extract"],
        "generator": config["generator"],
        "evaluate": config["evaluate"],
    }


def shard_files(wildcards, pattern):
    """The per-shard files of one extraction, shard 0 .. extract.shards - 1."""
    folder = f"results/{wildcards.dataset}_{wildcards.encoder}/shards"
    return [
        f"{folder}/{pattern.format(shard=i)}"
        for i in range(config["extract"]["shards"])
    ]


def dataset_sources(name):
    """Videos root and annotation files of a dataset (synth: what make_synth writes)."""
    entry = dataset_config(name)
    if entry["format"] == "synth":
        return {
            "format": "synth",
            "root": f"{SYNTH_DATA}/videos",
            "train_list": f"{SYNTH_DATA}/Anomaly_Train.txt",
            "test_annotations": f"{SYNTH_DATA}/Temporal_Anomaly_Annotation.txt",
        }
    keys = (
        "format",
        "root",
        "train_list",
        "test_annotations",
        "test_list",
        "masks",
        "frames_fps",
    )
    return {key: entry[key] for key in keys if key in entry}


def imported_features(dataset, encoder):
    """The `features:` entry of a dataset for one encoder (precomputed features to import)."""
    imported = dataset_config(dataset).get("features")
    if imported is None:
        return None
    if encoder not in imported:
        raise WorkflowError(
            f"dataset '{dataset}' takes precomputed features (datasets.{dataset}.features) "
            f"for {', '.join(sorted(imported))} only, not {encoder}: add "
            f"datasets.{dataset}.features.{encoder}, or remove the features entry to "
            f"extract from the videos"
        )
    return imported[encoder]


def dataset_regex(imported):
    """Wildcard pattern of the datasets whose features are imported (or extracted)."""
    names = [
        name
        for name, entry in config["datasets"].items()
        if ("features" in entry) == imported
    ]
    return "|".join(names) if names else "(?!)"


def cli_flags(values):
    """`--some-key value` for each non-null entry, shell-quoted."""
    return " ".join(
        f"--{key.replace('_', '-')} {shlex.quote(str(value))}"
        for key, value in values.items()
        if value is not None
    )


def dataset_index_inputs(wildcards):
    """Inputs of index_dataset. For a real dataset, first check that its videos are there:
    a user asking for results/ucf_... without UCF-Crime gets told so before any job runs.
    """
    src = dataset_sources(wildcards.dataset)
    if src["format"] == "synth":
        return {
            "videos": src["root"],
            "train_list": src["train_list"],
            "test_annotations": src["test_annotations"],
        }
    files = {
        k: src[k]
        for k in ("train_list", "test_annotations", "test_list", "masks")
        if k in src
    }
    if "features" in dataset_config(wildcards.dataset):
        return files  # precomputed features: the videos are not needed
    expected = expected_videos(
        src["format"],
        src["root"],
        src["train_list"],
        test_annotations=src.get("test_annotations"),
        test_list=src.get("test_list"),
    )
    missing = [path for path in expected if not path.exists()]
    if missing:
        raise WorkflowError(
            missing_dataset_message(
                wildcards.dataset,
                src["format"],
                src["root"],
                missing,
                f"datasets.{wildcards.dataset}.root",
                total=len(expected),
            )
        )
    return files
