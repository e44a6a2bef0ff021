"""Step modules: one per Snakemake rule, named after it (``python -m mist_steps.steps.<rule>``).

A step parses its command line and orchestrates building blocks; it never imports another step.
"""
