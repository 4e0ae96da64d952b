"""mtl-report: run the lecture-claim experiments (or reuse finished runs) and write reports/claims.md.

Every claim runs its flag file in flags/claims/ once per setting and seed; runs live under
--work_dir and are reused, so an interrupted report resumes where it stopped. The report, and
PNG plots when matplotlib is installed, go to --report_dir.

Examples:
  mtl-report                         # claims 1-14, full mode (about an hour on 2 cores)
  mtl-report --claims=1,3 --quick    # a few steps, one seed: checks the pipeline, not the claims
  python -m mtl_tf.report --jobs=1

``report()`` is the library call; the app (its flags, ``main``) is ``mtl_tf.apps.report``.
"""

import os

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads

import sys  # noqa: E402
import time  # noqa: E402

from mtl_tf.report import claims as C  # noqa: E402
from mtl_tf.report import markdown, plots, runner  # noqa: E402


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
