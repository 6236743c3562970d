"""Reports: the results table in the terminal, Markdown, HTML, JUnit properties, plots.

Owns words and tables only (`table.py` rows shared by every report), the mesh matrix, the
methods' tables, reproduce lines, and `outputs.py`: everything a run writes at its end, in
one call. Reads results, never measures. Imports the foundation, `judge`, `lab` (the WAN
emulation's words, the routers' counter tables), `diagnose` (a diagnosis in words) and
`store`; `html.py` also pytest-html's hooks.
"""
