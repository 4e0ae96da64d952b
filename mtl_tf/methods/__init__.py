"""Gradient methods: per-task gradients of the shared variables -> one update.

One small class a method (``pcgrad``, ``mgda``, ``cagrad``, ``imtl``), built by name with
``make_method`` (``registry``). ``base`` says what a method is and holds the shared
"Gram matrix -> weights" path; ``solvers`` runs the graded solvers XLA-compiled;
``representation`` finds the shared representation for MGDA-UB.
"""

from mtl_tf.methods.base import GradientMethod, GramianMethod, gram_matrix, nonfinite_rows
from mtl_tf.methods.cagrad import CAGrad
from mtl_tf.methods.imtl import IMTL
from mtl_tf.methods.mgda import MGDA, MGDAUB
from mtl_tf.methods.pcgrad import PCGrad
from mtl_tf.methods.registry import METHODS, make_method
from mtl_tf.methods.representation import model_outputs, shared_representation

__all__ = ["GradientMethod", "GramianMethod", "gram_matrix", "nonfinite_rows", "CAGrad", "IMTL", "MGDA", "MGDAUB",
           "PCGrad", "METHODS", "make_method", "model_outputs", "shared_representation"]
