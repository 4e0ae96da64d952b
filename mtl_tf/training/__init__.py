"""Training: the Trainer (compiled step, eval, summaries, checkpoints) and evaluation helpers."""

from mtl_tf.training.trainer import TrainConfig, Trainer, TrainingError

__all__ = ["TrainConfig", "Trainer", "TrainingError"]
