"""Grading: the pytest points plugin (Gradescope results.json) and mtl-assign."""
