"""Measurements anyone can rerun: ``python -m benchmarks.speed`` (``make bench``, writes ``benchmarks/speed.json``) and
``python -m benchmarks.image_accuracy`` (held-out digits read back from image files)."""
