"""Files on disk: the results document (--qos-json), baselines, and the one output writer.

Imports the foundation and `judge` (the metric catalogue a baseline is validated against);
nothing here measures or judges.
"""
