"""MIST (Multiple Instance Self-Training) for weakly supervised video anomaly detection.

Each stage of the Snakemake workflow is one small step module here with a ``run``-style
function and a thin command line (``python -m mist_steps.<step> --help``); shared building
blocks (atomic output, annotation parsers, video reading) sit beside them.
"""

SNIPPET_LEN = 16  # frames per non-overlapping snippet, the official MIST/I3D protocol
