rule pretrain_encoder:
    """The vanilla encoder: public weights imported, or pretrained on the synthetic proxy."""
    input:
        weights=lambda wildcards: encoder_config(wildcards.encoder)["weights"] or [],
    output:
        encoder="results/encoders/{encoder}_vanilla.pt",
        log_csv="results/encoders/{encoder}_vanilla.pt.log.csv",
    log:
        "logs/encoders/{encoder}_vanilla.log",
    benchmark:
        "results/benchmarks/encoders/{encoder}_vanilla.tsv"
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        weights=lambda wildcards, input: cli_flags({"weights": input.weights or None}),
        input_size=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"][
            "input_size"
        ],
        steps=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"]["steps"],
        batch_size=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"][
            "batch_size"
        ],
        lr=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"]["lr"],
        weight_decay=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"][
            "weight_decay"
        ],
        val_clips=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"][
            "val_clips"
        ],
        seed=lambda wildcards: encoder_config(wildcards.encoder)["pretrain"]["seed"],
    shell:
        "python -m mist_steps.pretrain --arch {wildcards.encoder} --out {output.encoder:q}"
        " {params.weights}"
        " --input-size {params.input_size} --steps {params.steps} --batch-size {params.batch_size}"
        " --lr {params.lr} --weight-decay {params.weight_decay} --val-clips {params.val_clips}"
        " --seed {params.seed} --threads {threads} --no-progress > {log:q} 2>&1"
