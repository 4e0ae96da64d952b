"""mtl_tf: a Keras/TensorFlow toolkit that teaches and runs multi-task learning.

Modules: ``tasks`` (what a task is), ``data`` (sources and pipelines), ``models`` (the model
contract and builder registry), ``objectives`` (objective registry), ``training`` (the
Trainer), ``train`` (the ``mtl-train`` app), ``grading`` (points, results.json, mtl-assign).
The graded pieces live in ``solutions/`` (reference) or ``homework/`` (student), chosen by
``mtl_tf.impl``.
"""

__version__ = "0.1.0"
