"""Files on disk: the results document (--qos-json), baselines, and the one output writer.

Imports only the foundation; nothing here measures or judges.
"""
