# MIST: Multiple Instance Self-Training for weakly supervised video anomaly detection
# (Feng, Hong & Zheng, CVPR 2021) as a workflow of cached stages. Wiring only: every rule runs
# `python -m mist_steps.steps.<rule name>`, passing its config values as params.
#
# The chain behind results/synth_i3d_auc.json (rules/<file>.smk: rule -> what it writes):
#   synth.smk     make_synth         the rendered benchmark videos and annotations
#   datasets.smk  index_dataset      videos.csv + ground_truth.h5
#   encoders.smk  pretrain_encoder   the vanilla encoder (here: the shipped one, imported)
#   features.smk  extract_shard      snippet features per shard -> gather_features: one file
#   stage1.smk    train_generator    the MIL generator G -> pseudo_labels (abnormal training videos)
#                 score_generator    G's test scores -> evaluate_generator (stage-I AUC)
#   stage2.smk    finetune           the encoder with SGA on the pseudo labels
#                 score_mist         its test scores -> evaluate_mist (the AUC)
# Step modules (mist_steps/steps/) orchestrate building blocks: models/, formats/, training/,
# data/, synth/, inference/, evaluation/, viz/.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


sys.path.insert(0, workflow.basedir)
from mist_steps.config_schema import validate_config

validate_config(config, f"{workflow.basedir}/schemas/config.schema.yaml")


# Jobs run `python -m mist_steps.steps.<rule>`: make the package importable for them even where it
# was not pip-installed (`--sdm conda`, cluster nodes). Also bash strict mode, as by default.
shell.prefix(
    "set -euo pipefail; export PYTHONPATH={workflow.basedir:q}${{PYTHONPATH:+:$PYTHONPATH}}; "
)


wildcard_constraints:
    dataset="[a-z][a-z0-9]*",
    encoder="i3d|c3d",
    shard="[0-9]+",
    model="vanilla|mist",
    # "" for the default run, "-<name>" for a variant of config `variants` (or seed<N>,
    # enc<N>), or several joined: "-enc1-officialclips".
    variant="(-[a-z][a-z0-9]*)*",


# Jobs of seconds (tables, metrics, figures, an import) run where Snakemake runs, not through a
# cluster's scheduler (`--profile profiles/slurm`): queueing them would cost more than they do.
localrules:
    all,
    import_pseudo_labels,
    evaluate_generator,
    evaluate_mist,
    ablation_table,
    seed_table,
    robustness_table,
    report_roc,
    report_timelines,
    report_losses,
    report_runtimes,
    report_ablations,
    report_contents,
    attention_hits,


include: "rules/common.smk"
include: "rules/flags.smk"
include: "rules/synth.smk"
include: "rules/datasets.smk"
include: "rules/encoders.smk"
include: "rules/features.smk"
include: "rules/stage1.smk"
include: "rules/stage2.smk"
include: "rules/report.smk"


# The default target: MIST on the synthetic benchmark, beside the generator-only baseline, and
# the report figures of that run (`snakemake --report report.html` collects them).
rule all:
    default_target: True
    input:
        "results/synth_i3d_auc.json",
        "results/synth_i3d_generator_auc.json",
        report_pieces("synth", "i3d"),
