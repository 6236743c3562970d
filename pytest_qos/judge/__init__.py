"""Judging: the metric catalogue, bounds, and comparisons with a baseline.

Pure functions over results: nothing here measures, spawns or writes files. Imports only the
package's foundation (`errors`, `units`, `results`).
"""
