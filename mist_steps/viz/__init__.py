"""Figures and renderings of the report: plots, heat-map overlays, explanations."""
