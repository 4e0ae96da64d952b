"""Reference implementation of every graded piece (instructor checkout only).

Each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region is what a student writes;
``mtl-assign`` turns this package into ``homework/``. Edit here, never in homework/.
"""
