"""mtl-report: run the lecture-claim experiments (or reuse finished runs) and write reports/claims.md.

Every claim runs its flag file in flags/claims/ once per setting and seed; runs live under
--work_dir and are reused, so an interrupted report resumes where it stopped. The report, and
PNG plots when matplotlib is installed, go to --report_dir.

Examples:
  mtl-report                         # claims 1-14, full mode (about an hour on 2 cores)
  mtl-report --claims=1,3 --quick    # a few steps, one seed: checks the pipeline, not the claims
  python -m mtl_tf.report --jobs=1
"""

import os

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads

import sys  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

from mtl_tf.report import claims as C  # noqa: E402
from mtl_tf.report import markdown, plots, runner  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_list("claims", [], "Claim numbers to run and report, comma separated (default: all registered).")
flags.DEFINE_bool("quick", False, f"Quick mode: {runner.QUICK_STEPS} steps and the first seed per run; checks the "
                  "pipeline, not the claims. Writes under <report_dir>/quick/ unless --work_dir is given.")
flags.DEFINE_integer("jobs", 2, "Runs trained at the same time (subprocesses).", lower_bound=1)
flags.DEFINE_bool("run", True, "Train the runs that are not finished; --norun writes the report from the finished "
                  "runs only (e.g. while another mtl-report is still training).")
flags.DEFINE_string("report_dir", "reports", "Where claims.md and the PNG plots go.")
flags.DEFINE_string("work_dir", None, "Where the runs go (default: <report_dir>/runs, quick: <report_dir>/quick/runs).")


def report(claim_numbers=None, quick=False, jobs=2, report_dir="reports", work_dir=None, out=sys.stdout,
           command="mtl-report", train=True) -> dict:
    """Run or reuse every run of the chosen claims and write the report; returns a summary dict.

    Returns:
      {"report": path of claims.md, "verdicts": {claim number: verdict or None}, "ran": n, "reused": n,
       "errors": {run_dir: message}}
    """
    start = time.perf_counter()
    if quick:
        report_dir = os.path.join(report_dir, "quick")
    work_dir = os.path.abspath(work_dir or os.path.join(report_dir, "runs"))
    chosen = C.get([int(n) for n in claim_numbers] if claim_numbers else None)
    runs = runner.plan(chosen, work_dir, quick=quick)
    progress = runner.Progress(len(runs), jobs, out)
    plots_note = plots.available()
    analyses, errors, plot_files = {}, {}, {}
    path = os.path.join(report_dir, "claims.md")
    all_errors = {}

    def write():
        markdown.write(path, chosen, analyses, errors, plot_files, quick, time.perf_counter() - start, plots_note,
                       command)

    def claim_done(claim):
        errors[claim.number] = [f"{os.path.relpath(d, report_dir)}: {m}" for d, m in all_errors.items()
                                if d.startswith(os.path.join(work_dir, f"claim{claim.number:02d}_"))]
        res = runner.results(claim, runs, quick)
        try:
            analyses[claim.number] = claim.analyze(res)
        except Exception as e:  # noqa: BLE001  (e.g. a setting with no finished run: the report says so)
            analyses[claim.number] = None
            errors[claim.number].append(f"analysis failed: {type(e).__name__}: {e}")
        a = analyses[claim.number]
        if a is not None and a.plot and plots_note is None:
            try:
                plot_files[claim.number] = os.path.basename(plots.draw(a.plot, report_dir))
            except Exception as e:  # noqa: BLE001  (a plot must not lose the report)
                errors[claim.number].append(f"plot failed: {type(e).__name__}: {e}")
        if a is not None:
            out.write(f"claim {claim.number} ({claim.key}): {a.verdict.verdict}\n")
        write()

    out.write(f"mtl-report: {len(chosen)} claims, {len(runs)} runs ({sum(r.finished(quick) for r in runs)} already "
              f"finished), {jobs} at a time, runs under {work_dir}\n")
    write()
    if train:
        with runner.WorkLock(work_dir):
            runner.run_all(runs, quick=quick, jobs=jobs, progress=progress, on_claim_done=claim_done,
                           errors=all_errors)
    else:
        runner.run_all(runs, quick=quick, progress=progress, on_claim_done=claim_done, train=False)
    write()
    out.write(f"Wrote {path} in {(time.perf_counter() - start) / 60:.1f} min\n")
    return {"report": path, "verdicts": {n: (a.verdict.verdict if a else None) for n, a in analyses.items()},
            "ran": progress.executed, "reused": progress.reused,
            "errors": all_errors}


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
    app.run(main, flags_parser=cli.flags_parser("mtl-report", __doc__, own_module="mtl_tf.report.cli"))


if __name__ == "__main__":
    run()
