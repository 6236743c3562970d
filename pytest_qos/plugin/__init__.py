"""The pytest layer: options, collection of scenario files, fixtures, the session store.

The only room that imports pytest (with `report.html` for pytest-html's hooks). It calls
the library and hands results to pytest's reports; it measures and judges nothing itself.
The entry point is `hooks`. May import every room.
"""
