rule index_dataset:
    """One row per video (videos.csv) and the frame-level test ground truth (HDF5)."""
    input:
        unpack(dataset_index_inputs),
    output:
        videos="results/{dataset}/videos.csv",
        ground_truth="results/{dataset}/ground_truth.h5",
    log:
        "logs/{dataset}/index_dataset.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        sources=lambda wildcards: cli_flags(dataset_sources(wildcards.dataset)),
        # With precomputed features the videos may be absent: frame counts come from the
        # annotation files, or else from the features.
        check=lambda wildcards: index_feature_flags(wildcards.dataset),
        # "skip": an unreadable video is indexed with 0 frames; later steps list it as skipped
        on_bad_video=config["extract"]["on_bad_video"],
    shell:
        "python -m mist_steps.steps.index_dataset {params.sources} {params.check}"
        " --on-bad-video {params.on_bad_video}"
        " --out-videos {output.videos:q} --out-ground-truth {output.ground_truth:q}"
        " > {log:q} 2>&1"
