"""Files on disk: the results document (--qos-json), baselines, and the one output writer.

Imports the foundation and `judge`; nothing here measures.
"""
