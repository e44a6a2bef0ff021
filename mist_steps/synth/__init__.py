"""The synthetic surveillance benchmark's renderer and the proxy clips of encoder pretraining."""
