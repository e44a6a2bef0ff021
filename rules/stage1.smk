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
        clips_per_bag=lambda wildcards: dataset_config(wildcards.dataset)[
            "clips_per_bag"
        ][wildcards.encoder],
        l2=lambda wildcards: (
            "--l2-normalize"
            if encoder_config(wildcards.encoder)["l2_normalize"]
            else "--no-l2-normalize"
        ),
        sampling=lambda wildcards: section("generator", wildcards.variant)["sampling"],
        sub_bags=lambda wildcards: section("generator", wildcards.variant)["sub_bags"],
        loss=lambda wildcards: section("generator", wildcards.variant)["loss"],
        topk=lambda wildcards: section("generator", wildcards.variant)["topk"],
        epsilon=lambda wildcards: section("generator", wildcards.variant)["epsilon"],
        lam=lambda wildcards: section("generator", wildcards.variant)["lambda"],
        crops=lambda wildcards: section("generator", wildcards.variant)["crops"],
        steps=lambda wildcards: section("generator", wildcards.variant)["steps"],
        batch_normal=lambda wildcards: section("generator", wildcards.variant)[
            "batch_normal"
        ],
        batch_abnormal=lambda wildcards: section("generator", wildcards.variant)[
            "batch_abnormal"
        ],
        lr=lambda wildcards: section("generator", wildcards.variant)["lr"],
        weight_decay=lambda wildcards: section("generator", wildcards.variant)[
            "weight_decay"
        ],
        grad_clip=lambda wildcards: section("generator", wildcards.variant)["grad_clip"],
        seed=lambda wildcards: section("generator", wildcards.variant)["seed"],
        checkpoint_every=lambda wildcards: section("generator", wildcards.variant)[
            "checkpoint_every"
        ],
    shell:
        "python -m mist_steps.steps.train_generator --features {input.features:q}"
        " --videos {input.videos:q} --out {output.generator:q} --loss-csv {output.loss:q}"
        " --steps {params.steps} --clips-per-bag {params.clips_per_bag}"
        " --sub-bags {params.sub_bags} --sampling {params.sampling} --loss {params.loss}"
        " --topk {params.topk} --epsilon {params.epsilon} --lambda {params.lam}"
        " --crops {params.crops} {params.l2} --batch-normal {params.batch_normal}"
        " --batch-abnormal {params.batch_abnormal} --lr {params.lr}"
        " --weight-decay {params.weight_decay} --grad-clip {params.grad_clip}"
        " --seed {params.seed} --threads {threads}"
        " --checkpoint-every {params.checkpoint_every} > {log:q} 2>&1"


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
        window=lambda wildcards: section("pseudo_labels", wildcards.variant)["window"],
        smooth_passes=lambda wildcards: section("pseudo_labels", wildcards.variant)[
            "smooth_passes"
        ],
    shell:
        "python -m mist_steps.steps.pseudo_labels --generator {input.generator:q}"
        " --features {input.features:q} --videos {input.videos:q} --out {output:q}"
        " --window {params.window} --smooth-passes {params.smooth_passes}"
        " --threads {threads} > {log:q} 2>&1"


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
    shell:
        "python -m mist_steps.steps.score_generator --generator {input.generator:q}"
        " --features {input.features:q} --videos {input.videos:q} --out {output:q}"
        " --split test --threads {threads} > {log:q} 2>&1"


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
