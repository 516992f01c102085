"""spoc-bench attacks: one module per plugin, installed as spoc_bench.attacks."""
