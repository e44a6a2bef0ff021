rule make_synth:
    """Render the synthetic surveillance benchmark in UCF-Crime's layout."""
    output:
        videos=directory(f"{SYNTH_DATA}/videos"),
        train_list=f"{SYNTH_DATA}/Anomaly_Train.txt",
        test_annotations=f"{SYNTH_DATA}/Temporal_Anomaly_Annotation.txt",
        boxes=f"{SYNTH_DATA}/anomaly_boxes.csv",
    log:
        "logs/synth/make_synth.log",
    benchmark:
        "results/benchmarks/synth/make_synth.tsv"
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out=lambda wildcards, output: os.path.dirname(output.train_list),
        seed=config["synth"]["seed"],
        train_normal=config["synth"]["train_normal"],
        train_abnormal=config["synth"]["train_abnormal"],
        test_normal=config["synth"]["test_normal"],
        test_abnormal=config["synth"]["test_abnormal"],
        min_frames=config["synth"]["min_frames"],
        max_frames=config["synth"]["max_frames"],
        height=config["synth"]["height"],
        width=config["synth"]["width"],
        zoom=config["synth"]["zoom"],
        crowd=config["synth"]["crowd"],
        hard_negatives=config["synth"]["hard_negatives"],
        fps=config["synth"]["fps"],
        codec=config["synth"]["codec"],
        crf=config["synth"]["crf"],
        classes=",".join(config["synth"]["classes"]),
    shell:
        "python -m mist_steps.synth --out {params.out:q} --seed {params.seed}"
        " --train-normal {params.train_normal} --train-abnormal {params.train_abnormal}"
        " --test-normal {params.test_normal} --test-abnormal {params.test_abnormal}"
        " --min-frames {params.min_frames} --max-frames {params.max_frames}"
        " --height {params.height} --width {params.width} --fps {params.fps}"
        " --zoom {params.zoom} --crowd {params.crowd}"
        " --hard-negatives {params.hard_negatives}"
        " --codec {params.codec} --crf {params.crf} --classes {params.classes}"
        " --workers {threads} > {log:q} 2>&1"
