"""mtl-report: the lecture's claims reproduced as experiments (flags/claims/), one generated report.

``claims`` is the registry (statement, slide, settings, verdict per claim), ``runner`` runs or
reuses the mtl-train runs, ``stats`` holds the verdict rules, ``markdown`` and ``plots`` write
``reports/claims.md`` and its PNGs, ``cli`` is the absl app (``python -m mtl_tf.report``).
"""
