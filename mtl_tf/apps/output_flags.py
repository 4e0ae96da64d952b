"""Flags of the ``output`` help group: where a run goes, what it prints, how often it logs and
saves. Defaults come from ``TrainConfig``."""

from absl import flags

from mtl_tf.training import TrainConfig

flags.DEFINE_string("run_dir", None, "Output folder (default: runs/<dataset>-<model>-<objective>[-<grad_method>]"
                    "-seed<seed>[-<hash>], the hash of every other flag that changes what is trained, when any "
                    "differs from its default).")
flags.DEFINE_integer("log_every", TrainConfig.log_every, "Update the progress bar and summaries every N steps.",
                     lower_bound=1)
flags.DEFINE_bool("quiet", False, "No progress bar.")
flags.DEFINE_integer("checkpoint_every", TrainConfig.checkpoint_every, "Save a checkpoint every N steps (also at "
                     "each evaluation and at the "
                     "end; 0: only then). Re-running the same command resumes from the newest one.", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace a --run_dir that holds a run of a different configuration "
                  "(without it such a run_dir is refused; the same configuration resumes).")
flags.DEFINE_bool("verbose", False, "Keep TensorFlow's start-up lines and absl's INFO log lines (also: "
                  "MTL_TF_VERBOSE=1). Read from the command line itself, not from a --flagfile.")
