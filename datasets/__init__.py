"""spoc-bench datasets: one module per plugin, installed as spoc_bench.datasets."""
