"""Metrics and result tables: frame-level AUC / FAR, the ablation, seed and robustness tables."""
