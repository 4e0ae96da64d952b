"""The first hour of a new user (issue 15): quiet start-up, one-line errors and interrupts, flag files,
default run directories, honest speed figures, help that exits 0, a README layout that is complete."""

import copy
import glob
import itertools
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from absl import flags
from absl.testing import flagsaver

from conftest import REPO, USER_ENV, console_scripts, run_script, script_command
from mtl_tf import cli, entry
import mtl_tf.transfer_experiment  # noqa: F401  (its flags, for flags/transfer_sweep.flags)
from mtl_tf.training.progress import Progress

FLAGS = flags.FLAGS


def tensorflow_lines(text):
    return [line for line in text.splitlines() if entry.is_tensorflow_log(line) or "cuInit" in line
            or "oneDNN" in line or "cuda drivers" in line or "rebuild TensorFlow" in line]


# ---- 1. start-up noise ------------------------------------------------------------------------------------------

def test_every_console_script_goes_through_the_quiet_entry_module():
    scripts = console_scripts()
    assert set(scripts) == {"mtl-train", "mtl-data", "mtl-transfer", "mtl-report", "mtl-assign", "mtl-grade"}
    assert {module for module, _ in scripts.values()} == {"mtl_tf.entry"}, scripts


def test_mtl_train_prints_its_header_first_and_no_tensorflow_line(cli_run):
    proc = cli_run.first
    assert proc.stdout.splitlines()[0].startswith("mtl-train: shared_bottom on correlated_regression"), proc.stdout
    assert not tensorflow_lines(proc.stdout + proc.stderr), proc.stderr[-3000:]
    assert proc.stderr.strip() == "", proc.stderr[-3000:]


def test_mtl_data_starts_with_its_own_line(mtl_data_describe):
    proc = mtl_data_describe
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not tensorflow_lines(proc.stdout + proc.stderr), proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].startswith("families: "), proc.stdout[:500]


@pytest.mark.parametrize("name, args, first", [
    ("mtl-transfer", ["--help"], "mtl-transfer: transfer learning vs multi-task learning"),
    ("mtl-report", ["--help"], "mtl-report: run the lecture-claim experiments"),
])
def test_other_console_scripts_start_with_their_own_line(name, args, first):
    proc = run_script(name, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not tensorflow_lines(proc.stdout + proc.stderr), proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].startswith(first), proc.stdout[:500]


def test_verbose_switch_leaves_tensorflow_its_logs():
    code = "from mtl_tf import entry; entry.quiet_tensorflow(); import os, sys; " \
           "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), os.environ.get('MTL_TF_VERBOSE'), 'tensorflow' in sys.modules)"
    for extra_args, env in ((["--verbose"], USER_ENV), ([], dict(USER_ENV, MTL_TF_VERBOSE="1"))):
        proc = subprocess.run([sys.executable, "-c", code, *extra_args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.stdout.split() == ["None", "1", "False"], (extra_args, proc.stdout, proc.stderr[-2000:])
    assert entry.is_tensorflow_log("I0000 00:00:1796196210.079333    3725 port.cc:153] oneDNN custom operations")
    assert entry.is_tensorflow_log("W1202 07:25:13.834647 139808242908032 file_utils.py:394] Variant folder")
    assert not entry.is_tensorflow_log("mtl-train: error: --run_dir=x is a file")


# ---- 2. one line instead of a traceback ---------------------------------------------------------------------------

def test_run_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    from mtl_tf.train import main
    for run_dir in (afile, afile / "sub"):
        with flagsaver.flagsaver(run_dir=str(run_dir), steps=1), pytest.raises(SystemExit) as e:
            main(["mtl-train"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"mtl-train: error: --run_dir={run_dir} ") and "not a folder" in err, err


def test_keyboard_interrupt_in_an_app_is_one_line_and_exit_130(capsys):
    def body(fv):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as e:
        cli.make_main("mtl-x", body)(["mtl-x"])
    err = capsys.readouterr().err
    assert e.value.code == 130 and err.count("\n") == 1 and err.startswith("mtl-x: interrupted"), err


def test_unexpected_argument_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        cli.make_main("mtl-x", lambda fv: None)(["mtl-x", "steps=10"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("mtl-x: error: unexpected arguments: steps=10 (flags are --name=value"), err


def test_interrupt_before_the_first_step_says_so(tmp_path, monkeypatch):
    from test_trainer import make_trainer
    trainer = make_trainer(100, run_dir=str(tmp_path))

    def interrupted(run):
        raise KeyboardInterrupt
    monkeypatch.setattr(trainer, "_first_step", interrupted)
    with pytest.raises(KeyboardInterrupt, match=r"^interrupted at step 0; no checkpoint yet; re-run the same command"):
        trainer.fit()
    assert not glob.glob(str(tmp_path / "checkpoints" / "ckpt-*"))


def test_ctrl_c_during_training_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    run_dir = tmp_path / "run"
    args = ["--steps=1000000", "--num_examples=300", "--eval_every=0", "--log_every=50", "--checkpoint_every=0",
            f"--run_dir={run_dir}"]
    proc = subprocess.Popen(script_command("mtl-train", *args), cwd=REPO, env=USER_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("["):     # the progress bar: training is under way
                time.sleep(0.5)
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    lines = err.strip().splitlines()
    m = re.fullmatch(r"mtl-train: interrupted at step (\d+); checkpoint at step (\d+); "
                     r"re-run the same command to resume", lines[-1])
    assert m and len(lines) == 1, err[-3000:]
    step, saved = int(m.group(1)), int(m.group(2))
    assert step == saved > 0 and (run_dir / "checkpoints" / f"ckpt-{saved}.index").exists()
    resumed = run_script("mtl-train", *args[1:], f"--steps={saved + 10}", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from step {saved}" in resumed.stdout


# ---- 3. flag files ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, hint", [("flags/default.flags", True), ("flags/nope.flags", False)])
def test_missing_flag_file_is_one_clean_line_with_a_hint(path, hint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli.flags_parser("mtl-train")(["mtl-train", f"--flagfile={path}"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("mtl-train: error: Unable to open flagfile") and "ERROR::" not in err, err
    assert "relative to the current folder" in err and str(tmp_path) in err, err
    assert (f"did you mean --flagfile={os.path.join(REPO, path)}?" in err) == hint, err


# ---- 4. TFDS's warning about a folder that does not exist ------------------------------------------------------------

def test_absent_celeba_logs_nothing_before_the_message(tmp_path, caplog):
    from mtl_tf.data import DataError, load_dataset
    with flagsaver.flagsaver(data_dir=str(tmp_path), download=False), caplog.at_level("WARNING"):
        with pytest.raises(DataError, match="tfds build celeb_a"):
            load_dataset("celeba", FLAGS, seed=0)
    assert not [r for r in caplog.records if "dataset_info.json" in r.getMessage()], caplog.text


# ---- 5. default run directories ------------------------------------------------------------------------------------

def _parsed(*args):
    fv = copy.deepcopy(FLAGS)
    fv.unparse_flags()
    fv(["mtl-train", *args])
    return fv


def test_shipped_flag_files_of_different_configurations_get_different_run_dirs():
    from mtl_tf.train import config_lines, default_run_dir, flags_text
    runs = {}
    for path in sorted(glob.glob(os.path.join(REPO, "flags", "*.flags"))):
        fv = _parsed(f"--flagfile={path}")
        runs[os.path.basename(path)] = (fv.run_dir or default_run_dir(fv), config_lines(flags_text(fv)))
    assert runs["ranking_mmoe.flags"][0] != runs["ranking_mmoe_tower.flags"][0]
    for (a, (dir_a, config_a)), (b, (dir_b, config_b)) in itertools.combinations(runs.items(), 2):
        assert (dir_a == dir_b) == (config_a == config_b), (a, dir_a, b, dir_b, sorted(config_a ^ config_b)[:6])


def test_default_run_dir_is_readable_and_stable():
    from mtl_tf.train import default_run_dir
    assert default_run_dir(_parsed()) == os.path.join("runs", "correlated_regression-shared_bottom-sum-seed0")
    changed = default_run_dir(_parsed("--num_experts=3", "--model=mmoe"))
    assert changed.startswith(os.path.join("runs", "correlated_regression-mmoe-sum-seed0-")) and \
        changed == default_run_dir(_parsed("--model=mmoe", "--num_experts=3"))
    # what only changes how the run is carried out keeps the folder (resume, extend with --steps)
    assert default_run_dir(_parsed("--steps=10", "--quiet", "--checkpoint_every=7")) == default_run_dir(_parsed())


# ---- 6, 7. metrics.json of a fresh, a resumed and a finished run ---------------------------------------------------------

def test_fresh_run_records_resumed_from_step_null(cli_run):
    assert cli_run.record["resumed_from_step"] is None
    assert cli_run.record["traces"] == 1 and cli_run.record["steps_per_second"] > 0


def test_rerunning_a_finished_run_keeps_its_record(cli_run):
    again, before, after = cli_run.again, cli_run.record, cli_run.rerecord
    assert "(0 steps/s)" not in again.stdout and "nothing left to train" in again.stdout, again.stdout
    assert after["resumed_from_step"] == 150
    for key in ("steps_per_second", "train_seconds", "traces"):
        assert after[key] == before[key], (key, before[key], after[key])


def test_speed_leaves_out_tracing_and_resumed_steps():
    clock = iter([0.0, 10.0, 12.0]).__next__    # created at 0 s; a 10 s first call; 2 s for 200 steps
    progress = Progress(1000, enabled=False, first_step=500, clock=clock)   # resumed at step 500
    progress.mark(550)                                         # the first call (traced) ran 50 steps
    progress.update(750, {})
    assert progress.last_rate == pytest.approx(100.0)          # not 250 / 12 s, nor 750 / 12 s


def test_reported_speed_is_the_progress_bars(capsys):
    from test_trainer import make_trainer
    trainer = make_trainer(100)
    trainer.config.progress = True
    results = trainer.fit()
    bar = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")][-1]
    shown = int(re.search(r" (\d+) steps/s", bar).group(1))
    assert shown == round(results["steps_per_second"]) and results["resumed_from_step"] is None, bar


# ---- 8. help ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("module, prog", [("mtl_tf.train", "mtl-train"), ("mtl_tf.transfer_experiment", "mtl-transfer"),
                                          ("mtl_tf.report.cli", "mtl-report"), ("mtl_tf.data.describe", "mtl-data")])
@pytest.mark.parametrize("wanted", ["--help", "--helpfull"])
def test_help_exits_0_with_the_tools_flags_first(module, prog, wanted, capsys):
    import importlib
    doc = importlib.import_module(module).__doc__
    with pytest.raises(SystemExit) as e:
        cli.flags_parser(prog, doc, own_module=module)([prog, wanted])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert out.startswith(doc.strip().splitlines()[0]), out[:300]
    headings = re.findall(r"^(\S[^\n]*) flags:$", out, re.M)
    own = [prog] if module != "mtl_tf.train" and FLAGS.flags_by_module_dict().get(module) else []
    assert headings[:len(own) + 5] == own + ["data", "model", "objective", "training", "output"], headings
    assert "test_srcdir" not in out and "absl.testing" not in out
    assert ("absl.app flags:" in out) == (wanted == "--helpfull")
    assert out.index("--dataset:") < out.index("output flags:")


# ---- 10. README's layout table -------------------------------------------------------------------------------------

def test_readme_layout_names_every_module_and_top_level_folder():
    with open(os.path.join(REPO, "README.md")) as f:
        layout = f.read().split("## Layout", 1)[1].split("\n## ", 1)[0]
    modules = [f"mtl_tf/{os.path.basename(p)}" for p in glob.glob(os.path.join(REPO, "mtl_tf", "*.py"))
               if not p.endswith("__init__.py")]
    packages = [f"mtl_tf/{os.path.basename(os.path.dirname(p))}/" for p in
                glob.glob(os.path.join(REPO, "mtl_tf", "*", "__init__.py"))]
    folders = [f"{name}/" for name in os.listdir(REPO) if os.path.isdir(os.path.join(REPO, name))
               and (not name.startswith(".") or name == ".ci") and not name.endswith(".egg-info")
               and name not in ("runs", "build", "dist", "__pycache__")]
    missing = [p for p in modules + packages + folders if f"`{p}" not in layout and f"`{p.rstrip('/')}`" not in layout]
    assert not missing, f"README.md's layout table does not name {missing}"
