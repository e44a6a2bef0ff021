# MIST: Multiple Instance Self-Training for weakly supervised video anomaly detection
# (Feng, Hong & Zheng, CVPR 2021) as a workflow of cached stages. Wiring only: the work is
# done by the step modules in mist_steps/, each rule passing its config values as params.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


sys.path.insert(0, workflow.basedir)
from mist_steps.config_schema import validate_config

validate_config(config, f"{workflow.basedir}/schemas/config.schema.yaml")


# Jobs run `python -m mist_steps.<step>`: make the package importable for them even where it
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


include: "rules/common.smk"
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
