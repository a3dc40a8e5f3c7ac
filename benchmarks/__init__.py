"""Speed benchmarks: ``python -m benchmarks.speed`` (what ``make bench`` runs) writes ``benchmarks/speed.json``."""
