rule finetune:
    """Stage II: the encoder with self-guided attention, fine-tuned on the pseudo labels
    (resumes from <out>.ckpt after a kill)."""
    input:
        unpack(finetune_inputs),
    output:
        model="results/{dataset}_{encoder}{variant}/encoder_mist.pt",
        loss="results/{dataset}_{encoder}{variant}/finetune_loss.csv",
    log:
        "logs/{dataset}_{encoder}{variant}/finetune.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}{variant}/finetune.tsv"
    conda:
        "../environment.yml"
    threads: config["finetune"]["threads"]
    resources:
        gpu=1,
        # not a param: the cache changes no weight, so resizing it re-runs nothing
        frame_cache_mb=frame_cache_mb,
        mem_mb=lambda wildcards, attempt: 8000 * attempt + frame_cache_mb(wildcards),
        runtime=lambda wildcards, attempt: 240 * attempt,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
        pseudo_labels=lambda wildcards, input: cli_flags(
            {"pseudo_labels": input.get("pseudo_labels")}
        ),
        flags=finetune_flags,
    shell:
        "python -m mist_steps.steps.finetune --encoder {input.encoder:q} --videos {input.videos:q}"
        " {params.pseudo_labels} --out {output.model:q} --loss-csv {output.loss:q}"
        " {params.flags} --threads {threads} --determinism {params.determinism}"
        " --frame-cache-mb {resources.frame_cache_mb} > {log:q} 2>&1"


rule score_mist:
    """softmax(H_c)[1] of every test snippet, the attention maps, and a per-video CSV."""
    input:
        model="results/{dataset}_{encoder}{variant}/encoder_mist.pt",
        videos="results/{dataset}/videos.csv",
    output:
        scores="results/{dataset}_{encoder}{variant}/test_scores.h5",
        csv="results/{dataset}_{encoder}{variant}/test_scores.csv",
        skipped="results/{dataset}_{encoder}{variant}/test_scores_skipped.csv",
    log:
        "logs/{dataset}_{encoder}{variant}/score_mist.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}{variant}/score_mist.tsv"
    conda:
        "../environment.yml"
    threads: config["score"]["threads"]
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
        batch_size=config["score"]["batch_size"],
        device=lambda wildcards: run_section("finetune", wildcards)["device"],
        on_bad_video=config["extract"]["on_bad_video"],
        threshold=config["evaluate"]["threshold"],
        frame_size=lambda wildcards: cli_flags(
            {"frame_size": encoder_setting(wildcards, "test_frame")}
        ),
    shell:
        "python -m mist_steps.steps.score_mist --model {input.model:q} --videos {input.videos:q}"
        " --out {output.scores:q} --csv {output.csv:q} --skipped {output.skipped:q}"
        " --split test --batch-size {params.batch_size} --threads {threads} --determinism {params.determinism}"
        " --device {params.device} --on-bad-video {params.on_bad_video}"
        " --threshold {params.threshold} {params.frame_size} > {log:q} 2>&1"


rule evaluate_mist:
    """Frame-level AUC, FAR and score gap of MIST (paper Tables 1-2)."""
    input:
        scores="results/{dataset}_{encoder}{variant}/test_scores.h5",
        ground_truth="results/{dataset}/ground_truth.h5",
        videos="results/{dataset}/videos.csv",
        skipped="results/{dataset}_{encoder}{variant}/test_scores_skipped.csv",
    output:
        "results/{dataset}_{encoder}{variant}_auc.json",
    log:
        "logs/{dataset}_{encoder}{variant}/evaluate_mist.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        threshold=config["evaluate"]["threshold"],
        extra=lambda wildcards: metrics_extra(wildcards, "mist"),
    shell:
        "python -m mist_steps.steps.evaluate_mist --scores {input.scores:q}"
        " --ground-truth {input.ground_truth:q} --videos {input.videos:q}"
        " --skipped {input.skipped:q} --threshold {params.threshold}"
        " --extra {params.extra:q} --out {output:q} > {log:q} 2>&1"


rule ablation_table:
    """Paper Tables 3-5 as one CSV: every row a variant of the same rules."""
    input:
        unpack(ablation_inputs),
    output:
        "results/ablations/{dataset}_{encoder}.csv",
    log:
        "logs/{dataset}_{encoder}/ablation_table.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        rows=ablation_rows,
    shell:
        "python -m mist_steps.steps.ablation_table --out {output:q} {params.rows}"
        " --reference mist > {log:q} 2>&1"


rule seed_table:
    """Generator-only vs MIST AUC over config `seeds` (mean ± std), as a Markdown table."""
    input:
        generator=lambda wildcards: seed_metrics(wildcards, "_generator_auc.json"),
        mist=lambda wildcards: seed_metrics(wildcards, "_auc.json"),
    output:
        csv="results/seeds/{dataset}_{encoder}.csv",
        md="results/seeds/{dataset}_{encoder}.md",
    log:
        "logs/{dataset}_{encoder}/seed_table.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seeds=" ".join(str(seed) for seed in config["seeds"]),
    shell:
        "python -m mist_steps.steps.seed_table --generator {input.generator:q} --mist {input.mist:q}"
        " --seeds {params.seeds} --out {output.csv:q} --md {output.md:q} > {log:q} 2>&1"


rule robustness_table:
    """Generator-only vs MIST AUC over vanilla encoders pretrained with config
    `encoder_seeds` (each its own features, stage I and stage II), with their features'
    collapse (top-5 PC variance share); with a variant, that variant on every encoder.
    """
    input:
        unpack(robustness_inputs),
    output:
        csv="results/robustness/{dataset}_{encoder}{variant}.csv",
        md="results/robustness/{dataset}_{encoder}{variant}.md",
    log:
        "logs/{dataset}_{encoder}{variant}/robustness_table.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        seeds=lambda wildcards: " ".join(map(str, encoder_seeds(wildcards.dataset))),
    shell:
        "python -m mist_steps.steps.robustness_table --generator {input.generator:q} --mist {input.mist:q}"
        " --features {input.features:q} --seeds {params.seeds} --label 'Encoder seed'"
        " --out {output.csv:q} --md {output.md:q} > {log:q} 2>&1"
