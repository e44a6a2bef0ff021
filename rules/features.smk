rule extract_shard:
    """Features of every 16-frame snippet of one shard of the videos (a job per shard), from
    the vanilla encoder (a variant's own, see encoder_tag) or (model "mist") the run's
    fine-tuned one."""
    input:
        videos="results/{dataset}/videos.csv",
        encoder=extraction_encoder,
    output:
        features=temp("results/{dataset}_{encoder}{variant}/shards/{model}_{shard}.h5"),
        skipped=temp(
            "results/{dataset}_{encoder}{variant}/shards/{model}_{shard}_skipped.csv"
        ),
    log:
        "logs/{dataset}_{encoder}{variant}/extract_{model}_shard_{shard}.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}{variant}/extract_{model}_shard_{shard}.tsv"
    wildcard_constraints:
        dataset=dataset_regex(imported=False),
    conda:
        "../environment.yml"
    threads: config["extract"]["threads"]
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
        num_shards=config["extract"]["shards"],
        crop_mode=config["extract"]["crop_mode"],
        input_size=lambda wildcards: cli_flags(
            {"input_size": dataset_config(wildcards.dataset).get("input_size")}
        ),
        # A MIST model has one feature: its pooled, attention-fused final map.
        feature=lambda wildcards: (
            "feature"
            if wildcards.model == "mist"
            else encoder_config(wildcards.encoder)["feature"]
        ),
        batch_size=config["extract"]["batch_size"],
        device=config["extract"]["device"],
        dtype=config["extract"]["dtype"],
        on_bad_video=config["extract"]["on_bad_video"],
    shell:
        "python -m mist_steps.steps.extract_shard --videos {input.videos:q} --encoder {input.encoder:q}"
        " --out {output.features:q} --skipped-out {output.skipped:q}"
        " --shard-index {wildcards.shard} --num-shards {params.num_shards}"
        " --crop-mode {params.crop_mode} {params.input_size} --feature {params.feature}"
        " --batch-size {params.batch_size} --threads {threads} --determinism {params.determinism} --device {params.device}"
        " --dtype {params.dtype} --on-bad-video {params.on_bad_video} > {log:q} 2>&1"


rule gather_features:
    """One HDF5 file of features per dataset, encoder and model, and the skipped videos."""
    input:
        features=lambda wildcards: shard_files(wildcards, "{model}_{shard}.h5"),
        skipped=lambda wildcards: shard_files(wildcards, "{model}_{shard}_skipped.csv"),
    output:
        features="results/{dataset}_{encoder}{variant}/features_{model}.h5",
        skipped="results/{dataset}_{encoder}{variant}/skipped_{model}.csv",
    log:
        "logs/{dataset}_{encoder}{variant}/gather_features_{model}.log",
    wildcard_constraints:
        dataset=dataset_regex(imported=False),
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m mist_steps.steps.gather_features --out {output.features:q}"
        " --skipped-out {output.skipped:q} --shard-skipped {input.skipped:q}"
        " -- {input.features:q} > {log:q} 2>&1"


rule import_features:
    """Precomputed features (RTFM / DeepMIL .npy layouts) in place of extraction."""
    input:
        videos="results/{dataset}/videos.csv",
    output:
        features="results/{dataset}_{encoder}/features_vanilla.h5",
        skipped="results/{dataset}_{encoder}/skipped_vanilla.csv",
    log:
        "logs/{dataset}_{encoder}/import_features.log",
    wildcard_constraints:
        dataset=dataset_regex(imported=True),
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        folder=lambda wildcards: imported_features(
            wildcards.dataset, wildcards.encoder
        )["dir"],
        crop_mode=lambda wildcards: imported_features(
            wildcards.dataset, wildcards.encoder
        )["crop_mode"],
        on_missing=config["extract"]["on_bad_video"],
        dtype=config["extract"]["dtype"],
        listed=lambda wildcards: imported_flags(wildcards.dataset, wildcards.encoder),
    shell:
        "python -m mist_steps.steps.import_features --videos {input.videos:q}"
        " --features {params.folder:q} --out {output.features:q} --encoder {wildcards.encoder}"
        " --crop-mode {params.crop_mode} --on-missing {params.on_missing}"
        " --skipped-out {output.skipped:q} --dtype {params.dtype} {params.listed}"
        " > {log:q} 2>&1"
