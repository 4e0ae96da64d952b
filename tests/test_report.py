"""mtl-report: verdict rules on synthetic numbers, the claim flag files, and the quick pipeline (resume)."""

import io
import math
import os

import pytest

from mtl_tf.report import claims as C
from mtl_tf.report import runner
from mtl_tf.report import stats as S


# ----------------------------------------------------------------------------- verdict rules

def test_beats_is_supported_only_when_resolved_in_the_claimed_direction():
    assert S.beats([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]).verdict == S.SUPPORTED
    assert S.beats([2.0, 2.1, 1.9], [1.0, 1.1, 0.9]).verdict == S.NOT_SUPPORTED
    assert S.beats([1.0, 1.5, 0.5], [1.1, 1.6, 0.6]).verdict == S.INCONCLUSIVE  # within the noise
    one_seed = S.beats([1.0], [2.0])
    assert one_seed.verdict == S.INCONCLUSIVE and "fewer than 2 seeds" in one_seed.reason


def test_pairing_by_seed_removes_the_spread_the_settings_share():
    a, b = [1.0, 2.0, 3.0], [1.1, 2.12, 3.09]  # the seed moves both; a is always lower
    assert S.beats(a, b).verdict == S.INCONCLUSIVE
    assert S.beats(a, b, paired=True).verdict == S.SUPPORTED
    assert "paired by seed" in S.beats(a, b, paired=True).reason
    with pytest.raises(ValueError, match="equal lengths"):
        S.beats([1.0, 2.0], [1.0, 2.0, 3.0], paired=True)


def test_same_uses_the_relative_margin_and_the_noise():
    assert S.same([1.00, 1.01, 0.99], [1.02, 1.03, 1.01], rel_tol=0.05).verdict == S.SUPPORTED
    assert S.same([1.0, 1.01, 0.99], [1.5, 1.51, 1.49], rel_tol=0.05).verdict == S.NOT_SUPPORTED
    assert S.same([1.0, 2.0, 0.2], [1.5, 0.5, 2.5], rel_tol=0.05).verdict == S.INCONCLUSIVE


def test_combine_takes_the_weakest_part_and_rank_correlation_is_spearman():
    yes, no = S.Verdict(S.SUPPORTED, "a"), S.Verdict(S.NOT_SUPPORTED, "b")
    maybe = S.Verdict(S.INCONCLUSIVE, "c")
    assert S.combine([yes, yes]).verdict == S.SUPPORTED
    assert S.combine([yes, maybe]).verdict == S.INCONCLUSIVE
    assert S.combine([maybe, no, yes]).verdict == S.NOT_SUPPORTED
    assert S.rank_correlation([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert S.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(S.rank_correlation([1, 2], [2, 1]))
    with pytest.raises(ValueError):
        S.Verdict("probably", "")


def _fake(values):
    """A metrics.json-like dict whose tasks have these logloss values."""
    return {"tasks": {f"task{i}": {"logloss": v} for i, v in enumerate(values)}}


def _results(claim, table, seeds=(0, 1, 2)):
    """ClaimResults where table[(flag, value, ...)] = per-seed mean logloss of the matching setting."""
    runs = {}
    for key, per_seed in table.items():
        s = C.ClaimResults(claim, {}).find(**dict(zip(key[::2], key[1::2])))
        runs[s.label] = {seed: _fake([v, v]) for seed, v in zip(seeds, per_seed)}
    return C.ClaimResults(claim, runs)


def test_capacity_verdict_follows_the_numbers():
    claim = C.get([11])[0]
    noise = [0.0, 0.01, -0.01]
    catches_up = {}
    for w in (2, 4, 8, 16, 32):
        gap = 0.3 if w <= 4 else 0.0  # independent better at widths 2 and 4, equal from 8
        catches_up[("hidden_units", f"{w},{w}", "model", "independent")] = [0.3 + n for n in noise]
        catches_up[("hidden_units", f"{w},{w}", "model", "shared_bottom")] = [0.3 + gap + n for n in noise]
    a = claim.analyze(_results(claim, catches_up, claim.seeds + (2,)))
    assert a.verdict.verdict == S.SUPPORTED and "width 8" in a.verdict.reason
    never_worse = {k: ([0.3 + n for n in noise] if "shared_bottom" in k else [0.6 + n for n in noise])
                   for k in catches_up}
    b = claim.analyze(_results(claim, never_worse, claim.seeds + (2,)))
    assert b.verdict.verdict == S.NOT_SUPPORTED
    assert len(b.rows) == 10 and b.plot["kind"] == "lines"


def test_negative_transfer_verdict_can_fail():
    claim = C.get([3])[0]
    table = {}
    for s in claim.settings:
        f = s.flags
        shared_better = f["model"] == "shared_bottom"
        v = 0.2 if shared_better else 0.4  # sharing always wins: part A (independent wins when unrelated) fails
        table[("num_examples", f["num_examples"], "relatedness", f["relatedness"], "model", f["model"])] = \
            [v, v + 0.01, v - 0.01]
    a = claim.analyze(_results(claim, table))
    assert a.verdict.verdict == S.NOT_SUPPORTED
    assert sum(p.verdict == S.SUPPORTED for p in a.verdict.parts) == 2  # the related/little-data parts hold


def test_every_claim_analyzes_complete_results_and_the_report_lists_them(tmp_path):
    import random
    from mtl_tf.report import markdown, plots
    rng = random.Random(0)
    names = [f"task{i}" for i in range(8)] + ["click", "watch_time", "like", "rating"]

    def fake(v):
        tasks = {n: {"logloss": v + rng.gauss(0, 0.01), "rmse": v + rng.gauss(0, 0.01)} for n in names}
        rank = {"relevance": {"ndcg": v, "auc": v}}
        return {"tasks": tasks, "train": {n: {"logloss": m["logloss"] / 2} for n, m in tasks.items()},
                "label_scale": {"watch_time": [5.0, 8.0], "rating": [3.0, 1.0]},
                "ranking": {"score": rank, "logged": rank, "tasks": {"click": rank}},
                **_transfer_json({n: {m: v + rng.gauss(0, 0.01) for m in ("scratch", "finetune", "multitask")}
                                  for n in (32, 128, 512)})}

    extra_rows = {1: 1, 2: 1}  # the structure row
    analyses, pngs = {}, {}
    for c in C.CLAIMS:
        if c.needs:
            continue
        runs = {s.label: {seed: fake(rng.random()) for seed in c.seeds} for s in c.settings}
        analyses[c.number] = a = c.analyze(C.ClaimResults(c, runs))
        expected_rows = 3 if c.module == "mtl_tf.transfer_experiment" else len(c.settings) + extra_rows.get(c.number, 0)
        assert len(a.rows) == expected_rows and all(len(r) == len(a.header) for r in a.rows), c.number
        if a.plot and plots.available() is None:
            pngs[c.number] = os.path.basename(plots.draw(a.plot, str(tmp_path)))
            assert os.path.getsize(tmp_path / pngs[c.number]) > 1000
    text = markdown.write(str(tmp_path / "claims.md"), C.CLAIMS, analyses, {}, pngs, False, 1.0, None, "test")
    for c in C.CLAIMS:
        assert f"## Claim {c.number}\n" in text
    assert text.count("**Verdict: ") == len(analyses)
    assert text.count("**Needs**") == len([c for c in C.CLAIMS if c.needs])


def test_beats_can_be_higher_is_better():
    high, low = [0.9, 0.91, 0.89], [0.8, 0.82, 0.79]
    assert S.beats(high, low, lower_is_better=False).verdict == S.SUPPORTED
    assert S.beats(low, high, lower_is_better=False).verdict == S.NOT_SUPPORTED
    assert "difference +0.0967" in S.beats(high, low, lower_is_better=False).reason


def _ranking(ndcg):
    rank = {"relevance": {"ndcg": ndcg, "auc": ndcg - 0.1}}
    return {"ranking": {"score": rank, "logged": {"relevance": {"ndcg": 0.8, "auc": 0.7}}, "tasks": {"click": rank}}}


def test_position_bias_verdict_follows_the_biased_log_and_reports_the_control():
    claim = C.get([13])[0]

    def results(biased_gain, control_gain):
        runs = {}
        for s in claim.settings:
            gain = (biased_gain if s.flags["logging_bias"] == 2 else control_gain) if s.flags["position_tower"] else 0
            runs[s.label] = {seed: _ranking(0.9 + gain + 0.003 * seed) for seed in claim.seeds}
        return C.ClaimResults(claim, runs)

    helps = claim.analyze(results(0.02, -0.01))
    assert helps.verdict.verdict == S.SUPPORTED and "tower (logging_bias=2)" in helps.verdict.reason
    assert any("control" in n and "not supported" in n for n in helps.notes), helps.notes
    assert helps.rows[3][2].startswith("0.92")  # logging_bias=2, tower: NDCG@5 click
    hurts = claim.analyze(results(-0.02, 0.0))
    assert hurts.verdict.verdict == S.NOT_SUPPORTED


def _transfer_json(values, metric="auc", lower=False):
    """A transfer.json-like dict (one seed): values[size][method] = the target's test metric."""
    return {"metric": metric, "lower_is_better": lower, "methods": ["scratch", "finetune", "multitask"],
            "sizes": sorted(values), "budget": {m: "2000 steps" for m in ("scratch", "finetune", "multitask")},
            "results": {str(n): {m: {metric: v} for m, v in by.items()} for n, by in values.items()}}


def test_transfer_verdict_is_fine_tune_vs_scratch_at_the_small_sizes():
    claim = C.get([14])[0]
    label = claim.settings[0].label

    def results(finetune_gain, lower=False):
        sign = -1 if lower else 1
        return C.ClaimResults(claim, {label: {seed: _transfer_json(
            {n: {"scratch": 0.7 + 0.01 * seed, "finetune": 0.7 + 0.01 * seed + sign * finetune_gain * (n < 500)
                 + 0.001 * seed * seed, "multitask": 0.75} for n in (32, 128, 512, 2048)}, lower=lower)
            for seed in claim.seeds}})

    a = claim.analyze(results(0.1))
    assert a.verdict.verdict == S.SUPPORTED and len(a.verdict.parts) == 2  # sizes 32 and 128
    assert [r[0] for r in a.rows] == ["32", "128", "512", "2048"] and a.rows[0][-1] == "finetune"
    assert a.rows[3][-1] == "multitask" and a.plot["series"]["finetune"][0][0] == 32
    assert claim.analyze(results(-0.1)).verdict.verdict == S.NOT_SUPPORTED
    assert claim.analyze(results(0.1, lower=True)).verdict.verdict == S.SUPPORTED  # e.g. logloss: lower wins


def test_structure_checks_of_claims_1_and_2_are_exact_and_can_fail():
    from mtl_tf.report import structure
    c = structure.conditioning_equivalence()
    assert c["mapped_layers"] == 2 and c["max_abs_diff"] <= structure.TOL < c["before"], c
    assert structure.conditioning_verdict(c).verdict == S.SUPPORTED
    assert structure.conditioning_verdict(dict(c, max_abs_diff=0.1)).verdict == S.NOT_SUPPORTED
    g = structure.gating_independence()
    assert g["shared"] == [] and g["nonzero_cross"] == 0 and g["variables"] > 0, g
    assert structure.gating_verdict(g).verdict == S.SUPPORTED
    assert structure.gating_verdict(dict(g, shared=["trunk/kernel"])).verdict == S.NOT_SUPPORTED
    assert structure.gating_verdict(dict(g, nonzero_cross=1, max_cross_grad=0.5)).verdict == S.NOT_SUPPORTED


def test_a_claim_can_run_another_entry_point_with_its_own_finished_marker(tmp_path):
    flagfile = tmp_path / "t.flags"
    flagfile.write_text("--dataset=families\n")
    claim = C.Claim(98, "probe", "a probe", "-", str(flagfile), "", [C.setting(transfer_repeats=1)], None,
                    module="mtl_tf.transfer_experiment", marker="transfer.json",
                    quick_flags={"pretrain_steps": 5, "steps": 5})
    run = runner.plan([claim], str(tmp_path / "runs"))[0]
    cmd = runner.command(run)
    assert cmd[1:3] == ["-m", "mtl_tf.transfer_experiment"] and "--transfer_repeats=1" in cmd and "--seed=0" in cmd
    assert runner.command(run, quick=True)[-2:] == ["--pretrain_steps=5", "--steps=5"]
    assert run.metrics_path == os.path.join(run.run_dir, "transfer.json")
    os.makedirs(run.run_dir)
    with open(run.signature_path, "w") as f:
        f.write(run.signature(quick=False))
    (tmp_path / "runs" / "claim98_probe" / "transfer_repeats=1-seed0" / "metrics.json").write_text("{}")
    assert not run.finished()  # metrics.json is not this claim's marker
    with open(run.metrics_path, "w") as f:
        f.write('{"metric": "auc"}')
    assert run.finished() and runner.load(run) == {"metric": "auc"}
    default = C.Claim(97, "probe", "a probe", "-", str(flagfile), "", [C.setting(model="independent")], None)
    assert runner.command(runner.plan([default], str(tmp_path))[0], quick=True)[1:3] == ["-m", "mtl_tf.train"]


# ----------------------------------------------------------------------------- flag files

def test_every_claim_flag_file_and_override_is_a_valid_mtl_train_flag():
    from mtl_tf.train import FLAGS  # defines every mtl-train flag
    import mtl_tf.transfer_experiment  # noqa: F401  (and mtl-transfer's, for claim 14)
    for claim in C.CLAIMS:
        if claim.needs:
            continue
        path = os.path.join(runner.FLAGS_DIR, claim.flagfile)
        assert os.path.exists(path), f"claim {claim.number}: flag file {path} is missing"
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip().startswith("--")]
        assert lines, f"{path} sets no flags"
        for line in lines + runner.flag_args({k: v for s in claim.settings for k, v in s.flags.items()}):
            name, has_value, value = line[2:].partition("=")
            if not has_value:
                name = name[2:] if name.startswith("no") and name[2:] in FLAGS else name
                assert name in FLAGS, f"{path}: unknown flag {line!r}"
                continue
            assert name in FLAGS, f"{path} / claim {claim.number} overrides: unknown flag {line!r}"
            FLAGS[name].parser.parse(value)  # raises on a bad value (enum, range, list)


def test_fitgap_rebuilds_the_runs_flag_values_from_flags_txt(tmp_path):
    from mtl_tf.apps.fitgap import _flag_values
    path = tmp_path / "flags.txt"
    path.write_text("--dataset=families\n--relatedness=-0.5\n--hidden_units=8,8\n--nostandardize_labels\n"
                    "--seed=3\n")
    fv = _flag_values(str(path))
    assert (fv.dataset, fv.relatedness, fv.hidden_units, fv.standardize_labels, fv.seed) == \
        ("families", -0.5, ["8", "8"], False, 3)
    assert fv.num_examples == 12000  # not in the file: the flag's default


def test_registry_numbers_are_unique_and_pending_claims_say_what_they_need():
    numbers = [c.number for c in C.CLAIMS]
    assert len(numbers) == len(set(numbers)) and set(range(1, 13)) <= set(numbers)
    for c in C.CLAIMS:
        assert c.needs or (c.settings and c.analyze), f"claim {c.number} has nothing to run"
    with pytest.raises(ValueError, match="unknown claim"):
        C.get([99])


# ----------------------------------------------------------------------------- the quick pipeline

def test_one_report_at_a_time_per_work_folder(tmp_path):
    lock = tmp_path / ".lock"
    lock.write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(RuntimeError, match="another mtl-report"):
        with runner.WorkLock(str(tmp_path)):
            pass
    lock.write_text("999999999")  # no such process: a killed report's stale lock is taken over
    with runner.WorkLock(str(tmp_path)):
        assert lock.read_text() == str(os.getpid())
    assert not lock.exists()


def test_a_finished_run_is_reused_only_while_its_command_and_flag_file_are_unchanged(tmp_path):
    flagfile = tmp_path / "exp.flags"
    flagfile.write_text("--dataset=families\n--steps=10\n")
    claim = C.Claim(99, "probe", "a probe", "-", str(flagfile), "", C.grid(model=["independent"]), None)
    run = runner.plan([claim], str(tmp_path / "runs"))[0]
    os.makedirs(run.run_dir)
    (tmp_path / "runs").joinpath(os.path.relpath(run.metrics_path, tmp_path / "runs")).write_text("{}")
    assert not run.finished()  # no record of the command that made it
    with open(run.signature_path, "w") as f:
        f.write(run.signature(quick=False))
    assert run.finished() and not run.finished(quick=True)  # quick runs use other steps
    flagfile.write_text("--dataset=families\n--steps=20\n")
    assert not run.finished()  # the flag file changed: the run will be made again

def test_quick_report_writes_rows_and_resumes_without_rerunning(tmp_path):
    from mtl_tf.report.cli import report
    out = io.StringIO()
    first = report([1], quick=True, jobs=2, report_dir=str(tmp_path), out=out)
    assert first["errors"] == {} and first["ran"] == 2 and first["reused"] == 0, out.getvalue()
    text = open(first["report"]).read()
    assert "| model=concat | 1 |" in text and "| model=additive | 1 |" in text
    # claim 1's verdict is the exact structure check; the one-seed training comparison cannot be judged
    assert "**Verdict: supported.**" in text and "[inconclusive]" in text and "fewer than 2 seeds" in text
    assert "QUICK mode" in text and "(nproc)" in text
    assert "run 2/2 ran" in out.getvalue() and "ETA" in out.getvalue()

    runs = runner.plan(C.get([1]), os.path.join(str(tmp_path), "quick", "runs"), quick=True)
    stamps = {r.run_dir: os.path.getmtime(r.metrics_path) for r in runs}
    os.remove(runs[0].metrics_path)  # as if that run had been interrupted
    second = report([1], quick=True, jobs=2, report_dir=str(tmp_path), out=io.StringIO())
    assert second["ran"] == 1 and second["reused"] == 1
    assert os.path.getmtime(runs[1].metrics_path) == stamps[runs[1].run_dir]  # finished run not re-run
    assert os.path.exists(runs[0].metrics_path)


def test_quick_report_runs_the_transfer_entry_point(tmp_path):
    """Claim 14 runs mtl-transfer (not mtl-train) and is finished by its transfer.json."""
    from mtl_tf.report.cli import report
    out = io.StringIO()
    summary = report([14], quick=True, jobs=1, report_dir=str(tmp_path), out=out)
    assert summary["errors"] == {} and summary["ran"] == 1, out.getvalue()
    run = runner.plan(C.get([14]), os.path.join(str(tmp_path), "quick", "runs"), quick=True)[0]
    assert os.path.exists(os.path.join(run.run_dir, "transfer.json")) and run.finished(quick=True)
    text = open(summary["report"]).read()
    assert "| 32 | 1 |" in text and "| 128 | 1 |" in text and "**Verdict: inconclusive.**" in text
