"""MIST (Multiple Instance Self-Training) for weakly supervised video anomaly detection.

Each Snakemake rule runs one step module, ``python -m mist_steps.steps.<rule> --help``; the steps
orchestrate the building blocks of the other folders (models, formats, training, data, synth,
inference, evaluation, viz), which never import a step.
"""

from __future__ import annotations

SNIPPET_LEN = 16  # frames per non-overlapping snippet, the official MIST/I3D protocol
