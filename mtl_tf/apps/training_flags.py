"""Flags of the ``training`` help group: steps, batches, the optimizer, the implementation, the
strategy, the non-finite guard, compilation and transfer (``mtl_tf.transfer.OPTIONS``).
Defaults come from ``TrainConfig`` and the library's declarations."""

from absl import flags

from mtl_tf import impl
from mtl_tf.training import TrainConfig
from mtl_tf.training.distribute import STRATEGIES
from mtl_tf.training.guards import NAN_POLICIES
from mtl_tf.transfer import FINETUNE_MODES, OPTIONS as TRANSFER

flags.DEFINE_integer("steps", TrainConfig.steps, "Training steps.", lower_bound=1)
flags.DEFINE_integer("batch_size", TrainConfig.batch_size, "Examples per sampled task per step.", lower_bound=1)
flags.DEFINE_integer("tasks_per_step", TrainConfig.tasks_per_step, "Tasks sampled per step, 1..T (default: all "
                     "tasks).", lower_bound=1)
flags.DEFINE_float("learning_rate", TrainConfig.learning_rate, "Adam learning rate (> 0).")
flags.register_validator("learning_rate", lambda v: v > 0, message="--learning_rate must be > 0.")
flags.DEFINE_enum("impl", "auto", list(impl.CHOICES),
                  "Implementation of the graded pieces: solutions, homework, or auto (solutions if present).")
flags.DEFINE_integer("eval_every", TrainConfig.eval_every, "Evaluate on the validation split every N steps (0: only "
                     "at the end).", lower_bound=0)
flags.DEFINE_bool("jit_compile", TrainConfig.jit_compile, "XLA-compile the train step "
                  "(tf.function(jit_compile=True)).")
flags.DEFINE_bool("deterministic", False, "Enable TensorFlow op determinism (and seed everything with --seed): "
                  "a resumed run then ends bit-identical to an uninterrupted one.")
flags.DEFINE_integer("steps_per_call", TrainConfig.steps_per_call, "Steps per compiled call on one device (an "
                     "in-graph loop; calls end at "
                     "every log, evaluation and checkpoint step, so results do not depend on it). 1: one step per call.",
                     lower_bound=1)
flags.DEFINE_enum("strategy", STRATEGIES[0], list(STRATEGIES),
                  "tf.distribute strategy: default (one device), mirrored (all local GPUs), multi_worker "
                  "(MultiWorkerMirroredStrategy, cluster from TF_CONFIG), tpu (TPUStrategy, see --tpu).")
flags.DEFINE_string("tpu", "", "--strategy=tpu: TPU name or grpc:// address for TPUClusterResolver "
                    "('' = the local TPU or the one the environment names).")
flags.DEFINE_enum("nan_policy", TrainConfig.nan_policy, list(NAN_POLICIES),
                  "What a non-finite loss or gradient does: stop (exit 1 naming the task(s) and step, keeping the "
                  "last good checkpoint) or skip_step (skip that update, count it in metrics.json).")
flags.DEFINE_string("select_by", TrainConfig.select_by, "Model selection: report the test metrics at the "
                    "evaluation with the best validation <task>/<metric> (e.g. task1/rmse) or mean_<metric> "
                    "(e.g. mean_rmse); needs --eval_every > 0. Unset: the last step's.")
flags.DEFINE_integer("early_stopping_patience", TrainConfig.early_stopping_patience, "With --select_by: stop after "
                     "this many evaluations without a new best (0: never).", lower_bound=0)
flags.DEFINE_bool("log_gradient_conflict", TrainConfig.log_gradient_conflict, "Log the pairwise cosines and norms "
                  "of the tasks' shared gradients every --log_every steps (TensorBoard, metrics.json); costs "
                  "one backward pass per task at those steps.")

# transfer
flags.DEFINE_string("target_task", TRANSFER["target_task"], "Transfer: the target task (a task name of --dataset).")
flags.DEFINE_integer("target_examples", TRANSFER["target_examples"], "Transfer: keep only this many of the target "
                     "task's training labels (masks off the rest; 0 keeps all).", lower_bound=0)
flags.DEFINE_bool("exclude_target", TRANSFER["exclude_target"], "Transfer: train without the target task "
                  "(pre-training on the related tasks; needs --target_task).")
flags.DEFINE_string("init_from", TRANSFER["init_from"], "Transfer: fine-tune on --target_task from the pre-trained "
                    "run RUN_DIR (its checkpoints/); the architecture flags must match the pre-training run's.")
flags.DEFINE_enum("finetune", TRANSFER["finetune"], list(FINETUNE_MODES), "Transfer (--init_from): head: train only "
                  "the new head, trunk frozen; full: train everything; gradual: head for --finetune_head_steps, "
                  "then everything.")
flags.DEFINE_integer("finetune_head_steps", TRANSFER["finetune_head_steps"], "--finetune=gradual: steps training "
                     "only the head before the trunk is unfrozen.", lower_bound=0)
flags.DEFINE_float("trunk_lr_scale", TRANSFER["trunk_lr_scale"], "Transfer: the trunk's learning rate is "
                   "--learning_rate times this (a separate Adam; 0 < scale).")
flags.register_validator("trunk_lr_scale", lambda v: v > 0, message="--trunk_lr_scale must be > 0.")
