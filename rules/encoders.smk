rule pretrain_encoder:
    """The vanilla encoder: public (or shipped) weights imported, or pretrained on the
    synthetic proxy; a variant that changes the encoder (enc<N>) gets its own."""
    input:
        weights=lambda wildcards: encoder_settings(
            wildcards.encoder, wildcards.variant
        )["weights"]
        or [],
    output:
        encoder="results/encoders/{encoder}_vanilla{variant}.pt",
        log_csv="results/encoders/{encoder}_vanilla{variant}.pt.log.csv",
    log:
        "logs/encoders/{encoder}_vanilla{variant}.log",
    benchmark:
        "results/benchmarks/encoders/{encoder}_vanilla{variant}.tsv"
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        determinism=config["determinism"],  # CPU kernels: native | portable
        weights=lambda wildcards, input: cli_flags({"weights": input.weights or None}),
        input_size=lambda wildcards: pretrain_setting(wildcards, "input_size"),
        steps=lambda wildcards: pretrain_setting(wildcards, "steps"),
        motion_steps=lambda wildcards: pretrain_setting(wildcards, "motion_steps"),
        batch_size=lambda wildcards: pretrain_setting(wildcards, "batch_size"),
        lr=lambda wildcards: pretrain_setting(wildcards, "lr"),
        weight_decay=lambda wildcards: pretrain_setting(wildcards, "weight_decay"),
        val_clips=lambda wildcards: pretrain_setting(wildcards, "val_clips"),
        seed=lambda wildcards: pretrain_setting(wildcards, "seed"),
    shell:
        "python -m mist_steps.steps.pretrain_encoder --arch {wildcards.encoder} --out {output.encoder:q}"
        " {params.weights}"
        " --input-size {params.input_size} --steps {params.steps}"
        " --motion-steps {params.motion_steps} --batch-size {params.batch_size}"
        " --lr {params.lr} --weight-decay {params.weight_decay} --val-clips {params.val_clips}"
        " --seed {params.seed} --threads {threads} --determinism {params.determinism} --no-progress > {log:q} 2>&1"
