"""The project's benchmark suite: ``python -m benchmarks`` prints one table of ratios and
scalings, each measured side by side in one run (see :mod:`benchmarks.__main__`).

Modules: :mod:`~benchmarks.extract_throughput` (P1 extraction efficiency, P2 memory),
:mod:`~benchmarks.training` (generator and fine-tuning steps against plain PyTorch loops),
:mod:`~benchmarks.workflow` (P3 Snakemake overhead, P4 the default run),
:mod:`~benchmarks.gpu_i3d` (P5, CUDA only), :mod:`~benchmarks.generator_speed`
(UCF-Crime-sized stage-I timing), :mod:`~benchmarks.common` (rows, timing, inputs).
"""
