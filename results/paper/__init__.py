"""The UNIC paper's Tables 1, 2 and 7 as ``source: paper`` run records (package data).

Generated from the paper's tables by ``scripts/import_paper_numbers.py``; read them with
``unic_bench.records.paper_records()``.
"""
