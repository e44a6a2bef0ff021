rule train_generator:
    """Stage I: the MIL generator G on the vanilla features (resumes from <out>.ckpt)."""
    input:
        features="results/{dataset}_{encoder}/features_vanilla.h5",
        videos="results/{dataset}/videos.csv",
    output:
        generator="results/{dataset}_{encoder}/generator.pt",
        loss="results/{dataset}_{encoder}/generator_loss.csv",
    log:
        "logs/{dataset}_{encoder}/train_generator.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}/train_generator.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=120,
    params:
        clips_per_bag=lambda wildcards: dataset_config(wildcards.dataset)[
            "clips_per_bag"
        ][wildcards.encoder],
        l2=lambda wildcards: (
            "--l2-normalize"
            if encoder_config(wildcards.encoder)["l2_normalize"]
            else "--no-l2-normalize"
        ),
        sampling=config["generator"]["sampling"],
        sub_bags=config["generator"]["sub_bags"],
        loss=config["generator"]["loss"],
        topk=config["generator"]["topk"],
        epsilon=config["generator"]["epsilon"],
        lam=config["generator"]["lambda"],
        crops=config["generator"]["crops"],
        steps=config["generator"]["steps"],
        batch_normal=config["generator"]["batch_normal"],
        batch_abnormal=config["generator"]["batch_abnormal"],
        lr=config["generator"]["lr"],
        weight_decay=config["generator"]["weight_decay"],
        grad_clip=config["generator"]["grad_clip"],
        seed=config["generator"]["seed"],
        checkpoint_every=config["generator"]["checkpoint_every"],
    shell:
        "python -m mist_steps.generator train --features {input.features:q}"
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
        generator="results/{dataset}_{encoder}/generator.pt",
        features="results/{dataset}_{encoder}/features_vanilla.h5",
        videos="results/{dataset}/videos.csv",
    output:
        "results/{dataset}_{encoder}/pseudo_labels.h5",
    log:
        "logs/{dataset}_{encoder}/pseudo_labels.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        window=config["pseudo_labels"]["window"],
        smooth_passes=config["pseudo_labels"]["smooth_passes"],
    shell:
        "python -m mist_steps.pseudo_labels --generator {input.generator:q}"
        " --features {input.features:q} --videos {input.videos:q} --out {output:q}"
        " --window {params.window} --smooth-passes {params.smooth_passes}"
        " --threads {threads} > {log:q} 2>&1"


rule score_generator:
    """G's score of every test clip: the generator-only ("pretrained") baseline."""
    input:
        generator="results/{dataset}_{encoder}/generator.pt",
        features="results/{dataset}_{encoder}/features_vanilla.h5",
        videos="results/{dataset}/videos.csv",
    output:
        "results/{dataset}_{encoder}/test_scores_generator.h5",
    log:
        "logs/{dataset}_{encoder}/score_generator.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m mist_steps.generator score --generator {input.generator:q}"
        " --features {input.features:q} --videos {input.videos:q} --out {output:q}"
        " --split test --threads {threads} > {log:q} 2>&1"


rule evaluate_generator:
    """Frame-level AUC, FAR and score gap of the generator alone (paper Table 3, 'pretrained')."""
    input:
        scores="results/{dataset}_{encoder}/test_scores_generator.h5",
        ground_truth="results/{dataset}/ground_truth.h5",
        videos="results/{dataset}/videos.csv",
        skipped="results/{dataset}_{encoder}/skipped.csv",
    output:
        "results/{dataset}_{encoder}_generator_auc.json",
    log:
        "logs/{dataset}_{encoder}/evaluate_generator.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        threshold=config["evaluate"]["threshold"],
        extra=lambda wildcards: json.dumps(
            {
                "dataset": wildcards.dataset,
                "encoder": wildcards.encoder,
                "model": "generator",
                "config": stage1_config(wildcards.dataset, wildcards.encoder),
            }
        ),
    shell:
        "python -m mist_steps.evaluate --scores {input.scores:q}"
        " --ground-truth {input.ground_truth:q} --videos {input.videos:q}"
        " --skipped {input.skipped:q} --threshold {params.threshold}"
        " --extra {params.extra:q} --out {output:q} > {log:q} 2>&1"
