rule make_synth:
    """Render a synthetic surveillance benchmark in UCF-Crime's layout."""
    output:
        videos=directory(f"{synth_data('{dataset}')}/videos"),
        train_list=f"{synth_data('{dataset}')}/Anomaly_Train.txt",
        test_annotations=f"{synth_data('{dataset}')}/Temporal_Anomaly_Annotation.txt",
        boxes=f"{synth_data('{dataset}')}/anomaly_boxes.csv",
    log:
        "logs/{dataset}/make_synth.log",
    benchmark:
        "results/benchmarks/{dataset}/make_synth.tsv"
    wildcard_constraints:
        dataset=synth_datasets(),
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out=lambda wildcards, output: os.path.dirname(output.train_list),
        seed=lambda wildcards: synth_render(wildcards.dataset)["seed"],
        train_normal=lambda wildcards: synth_render(wildcards.dataset)["train_normal"],
        train_abnormal=lambda wildcards: synth_render(wildcards.dataset)[
            "train_abnormal"
        ],
        test_normal=lambda wildcards: synth_render(wildcards.dataset)["test_normal"],
        test_abnormal=lambda wildcards: synth_render(wildcards.dataset)["test_abnormal"],
        min_frames=lambda wildcards: synth_render(wildcards.dataset)["min_frames"],
        max_frames=lambda wildcards: synth_render(wildcards.dataset)["max_frames"],
        height=lambda wildcards: synth_render(wildcards.dataset)["height"],
        width=lambda wildcards: synth_render(wildcards.dataset)["width"],
        zoom=lambda wildcards: synth_render(wildcards.dataset)["zoom"],
        crowd=lambda wildcards: synth_render(wildcards.dataset)["crowd"],
        hard_negatives=lambda wildcards: synth_render(wildcards.dataset)[
            "hard_negatives"
        ],
        fps=lambda wildcards: synth_render(wildcards.dataset)["fps"],
        codec=lambda wildcards: synth_render(wildcards.dataset)["codec"],
        crf=lambda wildcards: synth_render(wildcards.dataset)["crf"],
        classes=lambda wildcards: ",".join(synth_render(wildcards.dataset)["classes"]),
    shell:
        "python -m mist_steps.steps.make_synth --out {params.out:q} --seed {params.seed}"
        " --train-normal {params.train_normal} --train-abnormal {params.train_abnormal}"
        " --test-normal {params.test_normal} --test-abnormal {params.test_abnormal}"
        " --min-frames {params.min_frames} --max-frames {params.max_frames}"
        " --height {params.height} --width {params.width} --fps {params.fps}"
        " --zoom {params.zoom} --crowd {params.crowd}"
        " --hard-negatives {params.hard_negatives}"
        " --codec {params.codec} --crf {params.crf} --classes {params.classes}"
        " --workers {threads} > {log:q} 2>&1"
