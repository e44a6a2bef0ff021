"""Training building blocks: MIL sampling and losses, stage-II clip planning and feeding, the
pretraining loop, determinism, devices.
"""
