"""Programs over the library, run as ``python -m coordlib.programs.<name>``.
"""

