"""Input data: video decoding, snippet streams, preprocessing, annotations, dataset plans."""
