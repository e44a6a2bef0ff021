# The HTML report (`snakemake --report report.html`): figures of a run, its spatial explanation
# and its ablation table, each output marked report() with a caption in report/*.rst. Wiring
# only: mist_steps/viz/ draws the figures and the attention videos.


report: "../report/workflow.rst"


include: "report_common.smk"


rule report_roc:
    """Frame-level ROC curves of the generator alone and of MIST."""
    input:
        mist="results/{dataset}_{encoder}{variant}/test_scores.h5",
        generator=lambda wildcards: f"{stage1_run(wildcards)}/test_scores_generator.h5",
        ground_truth="results/{dataset}/ground_truth.h5",
        videos="results/{dataset}/videos.csv",
    output:
        report(
            f"{REPORT_RUN}/roc.png",
            caption="../report/roc.rst",
            category="{dataset}_{encoder}{variant}",
            subcategory="Detection",
            labels=report_labels("ROC curves"),
        ),
    log:
        "logs/{dataset}_{encoder}{variant}/report_roc.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m mist_steps.steps.report_roc --mist-scores {input.mist:q}"
        " --generator-scores {input.generator:q} --ground-truth {input.ground_truth:q}"
        " --videos {input.videos:q}"
        " --run {wildcards.dataset}_{wildcards.encoder}{wildcards.variant}"
        " --out {output:q} > {log:q} 2>&1"


rule report_timelines:
    """Anomaly scores over time of a few test videos, the ground truth shaded."""
    input:
        mist="results/{dataset}_{encoder}{variant}/test_scores.h5",
        generator=lambda wildcards: f"{stage1_run(wildcards)}/test_scores_generator.h5",
        ground_truth="results/{dataset}/ground_truth.h5",
        videos="results/{dataset}/videos.csv",
    output:
        png=report(
            f"{REPORT_RUN}/timelines.png",
            caption="../report/timelines.rst",
            category="{dataset}_{encoder}{variant}",
            subcategory="Detection",
            labels=report_labels("score timelines"),
        ),
        chosen=f"{REPORT_RUN}/timeline_videos.txt",
    log:
        "logs/{dataset}_{encoder}{variant}/report_timelines.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        videos_per_run=config["report"]["videos_per_run"],
        videos=" ".join(f"--video {shlex.quote(v)}" for v in config["report"]["videos"]),
        threshold=config["evaluate"]["threshold"],
    shell:
        "python -m mist_steps.steps.report_timelines --mist-scores {input.mist:q}"
        " --generator-scores {input.generator:q} --ground-truth {input.ground_truth:q}"
        " --videos {input.videos:q}"
        " --run {wildcards.dataset}_{wildcards.encoder}{wildcards.variant}"
        " --count {params.videos_per_run} {params.videos} --threshold {params.threshold}"
        " --out {output.png:q} --out-chosen {output.chosen:q} > {log:q} 2>&1"


rule report_losses:
    """Training losses of stage I (per step) and stage II (per epoch)."""
    input:
        generator=lambda wildcards: f"{stage1_run(wildcards)}/generator_loss.csv",
        finetune="results/{dataset}_{encoder}{variant}/finetune_loss.csv",
    output:
        report(
            f"{REPORT_RUN}/losses.png",
            caption="../report/losses.rst",
            category="{dataset}_{encoder}{variant}",
            subcategory="Training",
            labels=report_labels("training losses"),
        ),
    log:
        "logs/{dataset}_{encoder}{variant}/report_losses.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m mist_steps.steps.report_losses --generator-loss {input.generator:q}"
        " --finetune-loss {input.finetune:q}"
        " --run {wildcards.dataset}_{wildcards.encoder}{wildcards.variant}"
        " --out {output:q} > {log:q} 2>&1"


rule report_runtimes:
    """Wall time and peak memory of the jobs behind a run, from their benchmark files (drawn
    once the run's evaluations exist, so after its jobs)."""
    input:
        mist="results/{dataset}_{encoder}{variant}_auc.json",
        generator="results/{dataset}_{encoder}{variant}_generator_auc.json",
    output:
        report(
            f"{REPORT_RUN}/runtimes.png",
            caption="../report/runtimes.rst",
            category="{dataset}_{encoder}{variant}",
            subcategory="Training",
            labels=report_labels("job run times"),
        ),
    log:
        "logs/{dataset}_{encoder}{variant}/report_runtimes.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        bench=run_benchmarks,
    shell:
        "python -m mist_steps.steps.report_runtimes"
        " --title 'Jobs behind {wildcards.dataset}_{wildcards.encoder}{wildcards.variant}'"
        " --out {output:q} {params.bench} > {log:q} 2>&1"


rule explain:
    """One video with a map (method sga: SGA attention; cam: class activation map) and its
    anomaly scores drawn on it, and a contact sheet."""
    input:
        unpack(explain_inputs),
    output:
        mp4="results/{dataset}_{encoder}{variant}/explain/{method}/{video}.mp4",
        png="results/{dataset}_{encoder}{variant}/explain/{method}/{video}.png",
    log:
        "logs/{dataset}_{encoder}{variant}/explain_{method}_{video}.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}{variant}/explain_{method}_{video}.tsv"
    wildcard_constraints:
        video="[^/]+",
        method="sga|cam",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        flags=explain_flags,
    shell:
        "python -m mist_steps.steps.explain --video {wildcards.video:q} {params.flags}"
        " --method {wildcards.method} --out-mp4 {output.mp4:q} --out-png {output.png:q}"
        " > {log:q} 2>&1"


rule report_explain:
    """The attention videos and contact sheets of the first report.explain_videos videos of
    the score timelines."""
    input:
        unpack(explain_inputs),
        chosen=f"{REPORT_RUN}/timeline_videos.txt",
    output:
        report(
            directory(f"{REPORT_RUN}/explain"),
            patterns=["{method}/{name}.png", "{method}/{name}.mp4"],
            caption="../report/explain.rst",
            category="{dataset}_{encoder}{variant}",
            subcategory="Spatial explanation",
        ),
    log:
        "logs/{dataset}_{encoder}{variant}/report_explain.log",
    benchmark:
        "results/benchmarks/{dataset}_{encoder}{variant}/report_explain.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        flags=explain_flags,
        limit=config["report"]["explain_videos"],
        methods=lambda wildcards: " ".join(
            explain_methods(wildcards.dataset, wildcards.encoder, wildcards.variant)
        ),
    shell:
        "python -m mist_steps.steps.report_explain --chosen {input.chosen:q} --limit {params.limit}"
        " --methods {params.methods} {params.flags} --out-dir {output:q} > {log:q} 2>&1"


rule attention_hits:
    """How often the peak of a map (method sga: SGA attention; cam: class activation map)
    falls inside the anomaly's box (the synthetic benchmark's rendered boxes, or the dataset's
    spatial_annotations), with its chance levels."""
    input:
        scores="results/{dataset}_{encoder}{variant}/test_scores.h5",
        videos="results/{dataset}/videos.csv",
        boxes=anomaly_boxes,
    output:
        json="results/{dataset}_{encoder}{variant}/explain/hits_{method}.json",
        png=report(
            f"{REPORT_RUN}/hits_{{method}}.png",
            caption="../report/attention_hits.rst",
            category="{dataset}_{encoder}{variant}",
            subcategory="Spatial explanation",
            labels=report_labels("{method} peak in the anomaly box"),
        ),
    log:
        "logs/{dataset}_{encoder}{variant}/hits_{method}.log",
    wildcard_constraints:
        method="sga|cam",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m mist_steps.steps.attention_hits --scores {input.scores:q} --videos {input.videos:q}"
        " --boxes {input.boxes:q} --method {wildcards.method} --out {output.json:q}"
        " --out-png {output.png:q} > {log:q} 2>&1"


rule report_ablations:
    """The ablation table (paper Tables 3-5) as an HTML table and a chart."""
    input:
        "results/ablations/{dataset}_{encoder}.csv",
    output:
        html=report(
            "results/report/{dataset}_{encoder}/ablations.html",
            caption="../report/ablations.rst",
            category="{dataset}_{encoder}",
            subcategory="Ablations",
            labels={"run": "{dataset}_{encoder}", "figure": "ablation table"},
        ),
        png=report(
            "results/report/{dataset}_{encoder}/ablations.png",
            caption="../report/ablations.rst",
            category="{dataset}_{encoder}",
            subcategory="Ablations",
            labels={"run": "{dataset}_{encoder}", "figure": "ablation AUCs"},
        ),
    log:
        "logs/{dataset}_{encoder}/report_ablations.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m mist_steps.steps.report_ablations --table {input:q}"
        " --run {wildcards.dataset}_{wildcards.encoder} --out-html {output.html:q}"
        " --out {output.png:q} > {log:q} 2>&1"


rule report_contents:
    """One run's report pieces as one target: `snakemake --report report.html <this file>`
    reports exactly that run (contents_full.txt: with the ablation table)."""
    input:
        lambda wildcards: report_pieces(
            wildcards.dataset, wildcards.encoder, full=wildcards.scope == "_full"
        ),
    output:
        "results/report/{dataset}_{encoder}/contents{scope}.txt",
    log:
        "logs/{dataset}_{encoder}/report_contents{scope}.log",
    wildcard_constraints:
        scope="(_full)?",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m mist_steps.steps.report_contents --out {output:q} {input:q} > {log:q} 2>&1"
