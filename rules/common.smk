# Helpers shared by the rules: dataset lookup and the checks that must fail before any
# job starts. Everything here only reads the config; steps get values through params.
import json
import os
import re

from snakemake.exceptions import WorkflowError

from mist_steps.data.dataset_plan import expected_videos, missing_dataset_message

# HDF5 locks every file it opens; on shared cluster filesystems (NFS, Lustre) locking
# often fails ("unable to lock file"). No two jobs ever write one file (every output has
# one job and is written atomically), so jobs run without it. Set here, at parse time,
# it reaches every job: local ones, and SLURM jobs, which re-read the workflow (and
# inherit the submitting environment). HDF5_USE_FILE_LOCKING=TRUE in the environment wins.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


def synth_data(name):
    """Where synthetic dataset `name` is rendered (rules/synth.smk)."""
    return f"results/{name}/data"


def synth_render(name):
    """The rendering settings of synthetic dataset `name`: the `synth` section with the
    dataset's own `render` overrides (a second benchmark differs in a few keys only)."""
    return {**config["synth"], **dataset_config(name).get("render", {})}


def synth_datasets():
    """Wildcard pattern of the synthetic datasets."""
    names = [n for n, e in config["datasets"].items() if e["format"] == "synth"]
    return "|".join(names) if names else "(?!)"


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


def _part_overrides(name):
    """The overrides of one variant name: configured, seed<N> or enc<N>."""
    if name in config["variants"]:
        return config["variants"][name]
    seed = re.fullmatch(r"seed([0-9]+)", name)
    if seed:
        return {
            "generator": {"seed": int(seed[1])},
            "finetune": {"seed": int(seed[1])},
        }
    seed = re.fullmatch(r"enc([0-9]+)", name)
    if seed:  # a vanilla encoder proxy-pretrained with this seed (the robustness table)
        return {"encoder": {"weights": None, "pretrain": {"seed": int(seed[1])}}}
    raise WorkflowError(
        f"unknown variant '{name}': config.yaml `variants:` has "
        f"{', '.join(sorted(config['variants']))} (and seed<N>, enc<N> for any N)"
    )


def _merge(base, extra):
    """`extra` over `base`, mappings merged key by key (a later part wins)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def variant_parts(variant):
    """The names a variant combines: "-enc1-officialclips" -> ["enc1", "officialclips"]."""
    return [part for part in variant.split("-") if part]


def variant_overrides(variant):
    """The overrides of variant `variant` ("" for the default run, else "-<name>" or
    names joined by "-", e.g. "-enc1-officialclips": their overrides merged in order).
    """
    out = {}
    for part in variant_parts(variant):
        out = _merge(out, _part_overrides(part))
    return out


def variant_subset(variant, sections):
    """The parts of `variant` that override any of `sections`, as a variant suffix: the
    runs whose artifacts of those stages a combined variant shares."""
    return "".join(
        f"-{part}"
        for part in variant_parts(variant)
        if set(sections) & set(_part_overrides(part))
    )


def section(name, dataset, encoder, variant=""):
    """Stage section `name` of one run: config[name], then the dataset's own settings of
    that stage (datasets.<dataset>.<name>, then its by_encoder.<encoder>.<name>: the paper's
    recipe where the paper's data is), then the variant's overrides."""
    entry = dataset_config(dataset)
    out = _merge(config[name], entry.get(name, {}))
    out = _merge(out, entry.get("by_encoder", {}).get(encoder, {}).get(name, {}))
    return _merge(out, variant_overrides(variant).get(name, {}))


def run_section(name, wildcards):
    """`section` for the run a job's wildcards name."""
    return section(name, wildcards.dataset, wildcards.encoder, wildcards.variant)


def encoder_settings(encoder, variant=""):
    """encoders.<encoder> with the variant's `encoder` overrides (weights, pretrain keys)."""
    return _merge(
        encoder_config(encoder), variant_overrides(variant).get("encoder", {})
    )


def pretrain_setting(wildcards, key):
    return encoder_settings(wildcards.encoder, wildcards.variant)["pretrain"][key]


def encoder_tag(variant):
    """The variant's suffix on encoder and feature paths: its own (its encoder-changing
    parts) only when it changes the vanilla encoder, so every other variant shares the
    default run's encoder and features."""
    return variant_subset(variant, ["encoder"])


def vanilla_encoder(wildcards):
    return f"results/encoders/{wildcards.encoder}_vanilla{encoder_tag(wildcards.variant)}.pt"


def stage1_features_kind(variant):
    return variant_overrides(variant).get("stage1_features", "vanilla")


def stage1_run(wildcards):
    """Folder of the stage-I artifacts a run uses: the default run's unless the variant
    changes stage I, so e.g. the stage-II ablations share one generator."""
    variant = variant_subset(
        wildcards.variant, ["generator", "pseudo_labels", "stage1_features", "encoder"]
    )
    return f"results/{wildcards.dataset}_{wildcards.encoder}{variant}"


def features_run(wildcards):
    """Folder of the features a run's stage I uses (see encoder_tag)."""
    tag = encoder_tag(wildcards.variant)
    if tag and "features" in dataset_config(wildcards.dataset):
        raise WorkflowError(
            f"variant '{tag[1:]}' changes the vanilla encoder, but dataset "
            f"'{wildcards.dataset}' imports precomputed features "
            f"(datasets.{wildcards.dataset}.features): there is no encoder to change"
        )
    return f"results/{wildcards.dataset}_{wildcards.encoder}{tag}"


def stage1_features(wildcards):
    kind = stage1_features_kind(wildcards.variant)
    return f"{features_run(wildcards)}/features_{kind}.h5"


def stage1_skipped(wildcards):
    kind = stage1_features_kind(wildcards.variant)
    return f"{features_run(wildcards)}/skipped_{kind}.csv"


def seed_variant(seed):
    """The variant that runs the default config with `seed` (the default run itself when
    both seeds already are `seed`)."""
    if config["generator"]["seed"] == seed == config["finetune"]["seed"]:
        return ""
    return f"-seed{seed}"


def run_config(dataset, encoder, variant, stage):
    """The settings behind a result, recorded in its metrics JSON."""
    doc = {
        "dataset": dataset_config(dataset),
        "encoder": encoder_settings(encoder, variant),
        "extract": config["extract"],
        "stage1_features": stage1_features_kind(variant),
        "generator": section("generator", dataset, encoder, variant),
        "pseudo_labels": section("pseudo_labels", dataset, encoder, variant),
        "evaluate": config["evaluate"],
    }
    if doc["pseudo_labels"]["source"] == "released":  # stage II's labels were not ours
        files = dataset_config(dataset).get("released_pseudo_labels", {})
        doc["pseudo_labels"] = {**doc["pseudo_labels"], "file": files.get(encoder)}
    if stage == "mist":
        doc["finetune"] = section("finetune", dataset, encoder, variant)
    return doc


def metrics_extra(wildcards, stage):
    return json.dumps(
        {
            "dataset": wildcards.dataset,
            "encoder": wildcards.encoder,
            "variant": wildcards.variant[1:] or None,
            "model": stage,
            "config": run_config(
                wildcards.dataset, wildcards.encoder, wildcards.variant, stage
            ),
        }
    )


def shard_files(wildcards, pattern):
    """The per-shard files of one extraction, shard 0 .. extract.shards - 1."""
    folder = (
        f"results/{wildcards.dataset}_{wildcards.encoder}{wildcards.variant}/shards"
    )
    return [
        f"{folder}/{pattern.format(model=wildcards.model, shard=i)}"
        for i in range(config["extract"]["shards"])
    ]


def extraction_encoder(wildcards):
    """The vanilla encoder, or the default run's fine-tuned MIST model (`features_mist`)."""
    if wildcards.model == "mist":
        return f"results/{wildcards.dataset}_{wildcards.encoder}{wildcards.variant}/encoder_mist.pt"
    return vanilla_encoder(wildcards)


def released_pseudo_labels(wildcards):
    """The dataset's released pseudo-label file for the run's encoder (source: released)."""
    files = dataset_config(wildcards.dataset).get("released_pseudo_labels", {})
    if wildcards.encoder not in files:
        raise WorkflowError(
            f"pseudo_labels.source is 'released' for {wildcards.dataset} {wildcards.encoder}, "
            f"but datasets.{wildcards.dataset}.released_pseudo_labels has no "
            f"{wildcards.encoder} file; add it or use source: generator"
        )
    return files[wildcards.encoder]


def pseudo_label_file(wildcards):
    """The run's pseudo labels: our stage I's, or the imported released ones."""
    released = run_section("pseudo_labels", wildcards)["source"] == "released"
    name = "pseudo_labels_released.h5" if released else "pseudo_labels.h5"
    return f"{stage1_run(wildcards)}/{name}"


def finetune_inputs(wildcards):
    inputs = {
        "encoder": vanilla_encoder(wildcards),
        "videos": f"results/{wildcards.dataset}/videos.csv",
    }
    if run_section("finetune", wildcards)["labels"] == "pseudo":
        inputs["pseudo_labels"] = pseudo_label_file(wildcards)
    return inputs


def encoder_setting(wildcards, key):
    """The run's encoder's entry of the dataset's per-encoder setting `key` ({i3d: ...,
    c3d: ...}: test_frame, train_frame, train_from), or None where it has none."""
    return dataset_config(wildcards.dataset).get(key, {}).get(wildcards.encoder)


def frame_cache_mb(wildcards):
    """Fine-tuning's in-memory frame cache (MiB) for the run."""
    return run_section("finetune", wildcards).get("frame_cache_mb", 0)


def generator_flags(wildcards):
    """Every stage-I setting of the run as CLI flags."""
    return " ".join(
        [
            section_flags("generator", wildcards),
            cli_flags(
                {
                    "clips_per_bag": dataset_config(wildcards.dataset)["clips_per_bag"][
                        wildcards.encoder
                    ],
                    "l2_normalize": encoder_config(wildcards.encoder)["l2_normalize"],
                }
            ),
        ]
    )


def finetune_flags(wildcards):
    """Every fine-tuning setting of the run as CLI flags (threads and the frame cache go as
    the rule's threads and resources)."""
    dataset = dataset_config(wildcards.dataset)
    return " ".join(
        [
            section_flags(
                "finetune", wildcards, leave_out=("threads", "frame_cache_mb")
            ),
            cli_flags(
                {
                    "class_weights": dataset["class_weights"][wildcards.encoder],
                    "crop_scales": dataset.get("crop_scales"),
                    "input_size": dataset.get("input_size"),
                    "train_frame": encoder_setting(wildcards, "train_frame"),
                    "train_from": encoder_setting(wildcards, "train_from"),
                }
            ),
        ]
    )


def dataset_sources(name):
    """Videos root and annotation files of a dataset (synth: what make_synth writes)."""
    entry = dataset_config(name)
    if entry["format"] == "synth":
        data = synth_data(name)
        return {
            "format": "synth",
            "root": f"{data}/videos",
            "train_list": f"{data}/Anomaly_Train.txt",
            "test_annotations": f"{data}/Temporal_Anomaly_Annotation.txt",
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


def imported_flags(dataset, encoder):
    """The feature lists and the feature kind of an import, as flags (none: a folder scan)."""
    entry = imported_features(dataset, encoder)
    lists = entry.get("list")
    return cli_flags(
        {
            "lists": [lists] if isinstance(lists, str) else lists,
            "feature": entry.get("feature"),
        }
    )


def index_feature_flags(dataset):
    """Without videos (precomputed features), where index_dataset reads the frame counts the
    annotation files do not give: the features of the first encoder listed (16 per clip).
    """
    imported = dataset_config(dataset).get("features")
    if imported is None:
        return ""
    entry = imported[next(iter(imported))]
    lists = entry.get("list")
    return cli_flags(
        {
            "no_check_videos": True,
            "feature_dirs": [entry["dir"]],
            "feature_lists": [lists] if isinstance(lists, str) else lists,
        }
    )


def dataset_regex(imported):
    """Wildcard pattern of the datasets whose features are imported (or extracted)."""
    names = [
        name
        for name, entry in config["datasets"].items()
        if ("features" in entry) == imported
    ]
    return "|".join(names) if names else "(?!)"


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


# Rows of the ablation table (paper Tables 3-5): name, stage, variant, description.
ABLATIONS = (
    ("generator", "generator", "", "generator only: vanilla features, sparse sampling"),
    ("generator_uniform", "generator", "uniform", "generator only: uniform sampling"),
    ("mist_nopseudo", "mist", "nopseudo", "MIST without pseudo labels (video labels)"),
    ("mist_noguided", "mist", "noguided", "MIST without the guided head H_g"),
    ("mist_nosga", "mist", "nosga", "MIST without self-guided attention"),
    ("mist", "mist", "", "MIST"),
    (
        "generator_mist_features",
        "generator",
        "mistfeatures",
        "generator on MIST features",
    ),
)


def ablation_inputs(wildcards):
    """The metrics JSON of every ablation row (its variant must be configured)."""
    run = f"results/{wildcards.dataset}_{wildcards.encoder}"
    inputs = {}
    for name, stage, variant, _ in ABLATIONS:
        if variant and variant not in config["variants"]:
            raise WorkflowError(
                f"the ablation table needs the variant '{variant}' in config.yaml "
                f"`variants:` (see the shipped config.yaml)"
            )
        suffix = "_generator_auc.json" if stage == "generator" else "_auc.json"
        tag = f"-{variant}" if variant else ""
        inputs[name] = f"{run}{tag}{suffix}"
    return inputs


def ablation_rows(wildcards, input):
    return " ".join(
        f"--row {name} {stage} {shlex.quote(description)} {shlex.quote(input[name])}"
        for name, stage, _, description in ABLATIONS
    )


def seed_metrics(wildcards, suffix):
    """One metrics JSON per configured seed."""
    run = f"results/{wildcards.dataset}_{wildcards.encoder}"
    return [f"{run}{seed_variant(seed)}{suffix}" for seed in config["seeds"]]


def default_encoder_seed(encoder):
    """The proxy-pretraining seed the default vanilla encoder is made with: pretrained in the
    run, or a shipped file whose meta records this config's recipe (then it stands for that
    seed's pretraining, made the same way); None for any other weights."""
    enc = encoder_config(encoder)
    if enc["weights"] is None:
        return enc["pretrain"]["seed"]
    import torch  # only when a robustness table is asked for: a slow import

    try:
        meta = torch.load(enc["weights"], weights_only=True, map_location="cpu")["meta"]
        recipe = meta["proxy"]
    except Exception:  # not a proxy-pretrained encoder file of this workflow
        return None
    same = meta.get("source") == "proxy" and all(
        recipe.get(key) == value
        for key, value in enc["pretrain"].items()
        if key != "seed"
    )
    return meta.get("seed") if same else None


def encoder_seeds(dataset):
    return dataset_config(dataset).get("encoder_seeds", config["encoder_seeds"])


def robustness_inputs(wildcards):
    """Per encoder seed: the generator and MIST metrics and the vanilla features, of the
    default recipe or (a variant's table) of the variant run on each encoder seed."""
    if encoder_tag(wildcards.variant):
        raise WorkflowError(
            f"results/robustness/{wildcards.dataset}_{wildcards.encoder}"
            f"{wildcards.variant}: the robustness table pretrains its own encoders "
            f"(enc<N>); a variant that sets the encoder cannot be run on them"
        )
    run = f"results/{wildcards.dataset}_{wildcards.encoder}"
    # enc<N> for each seed, or the default run itself for the seed its encoder is made with
    # (read once: it may load the shipped encoder file)
    default_seed = default_encoder_seed(wildcards.encoder)
    encoders = [
        "" if seed == default_seed else f"-enc{seed}"
        for seed in encoder_seeds(wildcards.dataset)
    ]
    tags = [tag + wildcards.variant for tag in encoders]
    return {
        "generator": [f"{run}{tag}_generator_auc.json" for tag in tags],
        "mist": [f"{run}{tag}_auc.json" for tag in tags],
        "features": [f"{run}{tag}/features_vanilla.h5" for tag in encoders],
    }
