"""Running trained models over videos: feature extraction and the MIST scorer."""
