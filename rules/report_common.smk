# Helpers of the report rules (rules/report.smk): which files make a run's report, and the
# inputs and flags the report steps get. Everything here only reads the config.
import shlex

REPORT_RUN = "results/report/{dataset}_{encoder}{variant}"


def report_pieces(dataset, encoder, full=False):
    """The report files of the run dataset_encoder (with `full`, its ablation table too)."""
    run = f"{dataset}_{encoder}"
    pieces = [
        f"results/report/{run}/{name}.png"
        for name in ("roc", "timelines", "losses", "runtimes")
    ]
    if config["report"]["explain_videos"] > 0:
        pieces.append(f"results/report/{run}/explain")
    entry = dataset_config(dataset)
    if entry["format"] == "synth" or "spatial_annotations" in entry:
        methods = explain_methods(dataset, encoder)
        pieces += [f"results/{run}/explain/hits_{method}.json" for method in methods]
    if full:
        pieces.append(f"results/report/{run}/ablations.html")
    return pieces


def report_labels(figure):
    return {"run": "{dataset}_{encoder}{variant}", "figure": figure}


def synth_boxes(wildcards):
    """The rendered anomaly boxes: only the synthetic benchmark has them."""
    if dataset_config(wildcards.dataset)["format"] != "synth":
        raise WorkflowError(
            f"dataset '{wildcards.dataset}' has no anomaly boxes: only the synthetic "
            f"benchmark (format synth) records where its anomalies are drawn"
        )
    return f"{synth_data(wildcards.dataset)}/anomaly_boxes.csv"


def anomaly_boxes(wildcards):
    """Where the test anomalies are: the synthetic benchmark's rendered boxes, or the
    dataset's official spatial annotation (datasets.<name>.spatial_annotations)."""
    entry = dataset_config(wildcards.dataset)
    if entry["format"] != "synth" and "spatial_annotations" in entry:
        return entry["spatial_annotations"]
    return synth_boxes(wildcards)


def explain_methods(dataset, encoder, variant=""):
    """The maps a run's model offers: SGA attention (where it has SGA) and the CAM."""
    return (
        ["sga", "cam"]
        if section("finetune", dataset, encoder, variant)["sga"]
        else ["cam"]
    )


def explain_inputs(wildcards):
    """The run's scores and attention maps, its model (for maps the scores lack), the index,
    the ground truth and, on the synthetic benchmark, the anomaly boxes."""
    run = f"results/{wildcards.dataset}_{wildcards.encoder}{wildcards.variant}"
    inputs = {
        "scores": f"{run}/test_scores.h5",
        "model": f"{run}/encoder_mist.pt",
        "videos": f"results/{wildcards.dataset}/videos.csv",
        "ground_truth": f"results/{wildcards.dataset}/ground_truth.h5",
    }
    if dataset_config(wildcards.dataset)["format"] == "synth":
        inputs["boxes"] = synth_boxes(wildcards)
    return inputs


def explain_flags(wildcards, input):
    return cli_flags(
        {
            "scores": input.scores,
            "model": input.model,
            "videos": input.videos,
            "ground_truth": input.ground_truth,
            "boxes": input.get("boxes"),
            "threshold": config["evaluate"]["threshold"],
        }
    )


def run_benchmarks(wildcards):
    """Benchmark files and folders of the jobs behind a run (those that exist are drawn)."""
    bench = "results/benchmarks"
    tag = encoder_tag(wildcards.variant)
    paths = [f"{bench}/encoders/{wildcards.encoder}_vanilla{tag}.tsv"]
    if dataset_config(wildcards.dataset)["format"] == "synth":
        paths.insert(0, f"{bench}/{wildcards.dataset}/make_synth.tsv")
    stage1 = stage1_run(wildcards).removeprefix("results/")
    run = f"{wildcards.dataset}_{wildcards.encoder}{wildcards.variant}"
    paths += [f"{bench}/{folder}" for folder in dict.fromkeys((stage1, run))]
    return " ".join(shlex.quote(path) for path in paths)
