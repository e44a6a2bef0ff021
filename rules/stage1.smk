rule train_generator:
    """Stage I: the MIL generator G on the vanilla features (resumes from <out>.ckpt);
    a variant with `stage1_features: mist` trains it on the fine-tuned encoder's."""
    input:
        features=stage1_features,
        videos="results/{dataset}/videos.csv",
    output:
        generator="results/{dataset}_{encoder}{variant}/generator.pt",
        loss="results/{dataset}_{encoder}{variant}/generator_loss.csv",
    log:
        "logs/{dataset}_{encoder}{variant}/train_generator.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}{variant}/train_generator.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        # Holds the training videos' features in memory: ~3x the (compressed) file.
        mem_mb=lambda wildcards, input, attempt: attempt
        * (2000 + 3 * int(input.size_mb)),
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
        flags=generator_flags,
    shell:
        "python -m mist_steps.steps.train_generator --features {input.features:q}"
        " --videos {input.videos:q} --out {output.generator:q} --loss-csv {output.loss:q}"
        " {params.flags} --threads {threads} --determinism {params.determinism} > {log:q} 2>&1"


rule pseudo_labels:
    """G's scores of every training clip, smoothed and min-max normalised per abnormal video."""
    input:
        generator="results/{dataset}_{encoder}{variant}/generator.pt",
        features=stage1_features,
        videos="results/{dataset}/videos.csv",
    output:
        "results/{dataset}_{encoder}{variant}/pseudo_labels.h5",
    log:
        "logs/{dataset}_{encoder}{variant}/pseudo_labels.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
        flags=lambda wildcards: section_flags(
            "pseudo_labels", wildcards, leave_out=("source",)
        ),
    shell:
        "python -m mist_steps.steps.pseudo_labels --generator {input.generator:q}"
        " --features {input.features:q} --videos {input.videos:q} --out {output:q}"
        " {params.flags} --threads {threads} --determinism {params.determinism} > {log:q} 2>&1"


rule import_pseudo_labels:
    """The dataset's released pseudo labels (pseudo_labels.source: released) in the layout
    stage II reads: stage II without stage I."""
    input:
        released=released_pseudo_labels,
        videos="results/{dataset}/videos.csv",
    output:
        "results/{dataset}_{encoder}{variant}/pseudo_labels_released.h5",
    log:
        "logs/{dataset}_{encoder}{variant}/import_pseudo_labels.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m mist_steps.steps.import_pseudo_labels --released {input.released:q}"
        " --videos {input.videos:q} --out {output:q} > {log:q} 2>&1"


rule score_generator:
    """G's score of every test clip: the generator-only ("pretrained") baseline."""
    input:
        generator="results/{dataset}_{encoder}{variant}/generator.pt",
        features=stage1_features,
        videos="results/{dataset}/videos.csv",
    output:
        "results/{dataset}_{encoder}{variant}/test_scores_generator.h5",
    log:
        "logs/{dataset}_{encoder}{variant}/score_generator.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
    shell:
        "python -m mist_steps.steps.score_generator --generator {input.generator:q}"
        " --features {input.features:q} --videos {input.videos:q} --out {output:q}"
        " --split test --threads {threads} --determinism {params.determinism} > {log:q} 2>&1"


rule evaluate_generator:
    """Frame-level AUC, FAR and score gap of the generator alone (paper Table 3, 'pretrained')."""
    input:
        scores=lambda wildcards: f"{stage1_run(wildcards)}/test_scores_generator.h5",
        ground_truth="results/{dataset}/ground_truth.h5",
        videos="results/{dataset}/videos.csv",
        skipped=stage1_skipped,
    output:
        "results/{dataset}_{encoder}{variant}_generator_auc.json",
    log:
        "logs/{dataset}_{encoder}{variant}/evaluate_generator.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        threshold=config["evaluate"]["threshold"],
        extra=lambda wildcards: metrics_extra(wildcards, "generator"),
    shell:
        "python -m mist_steps.steps.evaluate_generator --scores {input.scores:q}"
        " --ground-truth {input.ground_truth:q} --videos {input.videos:q}"
        " --skipped {input.skipped:q} --threshold {params.threshold}"
        " --extra {params.extra:q} --out {output:q} > {log:q} 2>&1"
