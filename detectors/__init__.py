"""spoc-bench detectors: one module per plugin, installed as spoc_bench.detectors."""
