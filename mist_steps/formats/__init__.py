"""Every on-disk artifact: atomic writes, HDF5 feature and score files, model files, resume
checkpoints.
"""
