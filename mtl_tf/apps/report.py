"""The ``mtl-report`` app: its flags and ``main`` around ``mtl_tf.report.cli.report``."""

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads

import sys  # noqa: E402

from absl import app, flags  # noqa: E402

from mtl_tf.report import cli as report_cli  # noqa: E402
from mtl_tf.report import runner  # noqa: E402
from mtl_tf.options import parameter_default  # noqa: E402
from mtl_tf.report.cli import report  # noqa: E402

__doc__ = report_cli.__doc__  # noqa: A001  (--help prints the report's docstring)

FLAGS = flags.FLAGS

flags.DEFINE_list("claims", [], "Claim numbers to run and report, comma separated (default: all registered).")
flags.DEFINE_bool("quick", False, f"Quick mode: {runner.QUICK_STEPS} steps and the first seed per run; checks the "
                  "pipeline, not the claims. Writes under <report_dir>/quick/ unless --work_dir is given.")
flags.DEFINE_integer("jobs", parameter_default(report, "jobs"), "Runs trained at the same time (subprocesses).", lower_bound=1)
flags.DEFINE_bool("run", True, "Train the runs that are not finished; --norun writes the report from the finished "
                  "runs only (e.g. while another mtl-report is still training).")
flags.DEFINE_string("report_dir", parameter_default(report, "report_dir"), "Where claims.md and the PNG plots go.")
flags.DEFINE_string("work_dir", None, "Where the runs go (default: <report_dir>/runs, quick: <report_dir>/quick/runs).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        summary = report(FLAGS.claims, FLAGS.quick, FLAGS.jobs, FLAGS.report_dir, FLAGS.work_dir,
                         command=" ".join(["mtl-report", *sys.argv[1:]]), train=FLAGS.run)
    except (ValueError, RuntimeError) as e:
        sys.stderr.write(f"mtl-report: error: {e}\n")
        sys.exit(2)
    if summary["errors"]:
        sys.stderr.write(f"mtl-report: {len(summary['errors'])} run(s) failed; see {summary['report']}\n")
        sys.exit(1)


def run():
    """Run the ``mtl-report`` app (the console script goes through ``mtl_tf.entry.report``)."""
    from mtl_tf import cli
    app.run(main, flags_parser=cli.flags_parser("mtl-report", __doc__, own_module="mtl_tf.apps.report"))


if __name__ == "__main__":
    run()
