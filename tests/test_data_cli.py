"""mtl-data, the --dataset registry in mtl-train --helpfull, and one flag file per offline dataset."""

import os

import pytest
from absl import flags
from absl.testing import flagsaver

from mtl_tf.data import DATASETS
from mtl_tf.data.describe import describe, list_text

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFLINE = sorted(n for n, s in DATASETS.items() if s.offline)


def test_list_names_every_source():
    text = list_text()
    for name, source in DATASETS.items():
        assert name in text and source.doc in text
    assert {"recommendation", "images", "families", "correlated_regression"} <= set(OFFLINE)
    assert {"cifar100_mtl", "celeba", "movielens"} <= set(DATASETS) - set(OFFLINE)


def test_describe_shows_tasks_kinds_sizes_and_shapes():
    with flagsaver.flagsaver(num_examples=1000):
        text = describe("recommendation", FLAGS)
    for words in ("splits: train 800, validation 100, test 100", "position", "(29,)", "watch_time  regression",
                  "extras (not model inputs)", "relevance"):
        assert words in text, f"{words!r} missing from:\n{text}"
    with flagsaver.flagsaver(num_examples=200, image_size=24):
        assert "(24, 24, 3)" in describe("images", FLAGS) and "multiclass/6" in describe("images", FLAGS)


def test_mtl_data_command_line(mtl_data_describe):
    proc = mtl_data_describe   # mtl-data describe families --num_examples=400 --family_tasks=3
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tasks (3):" in proc.stdout and "task2" in proc.stdout


@pytest.mark.parametrize("argv, words", [(["describe", "nope"], "unknown dataset 'nope'"),
                                         (["show"], "usage: mtl-data list")])
def test_mtl_data_bad_use_is_one_line(argv, words, capsys):
    from mtl_tf.apps.data import main
    with pytest.raises(SystemExit) as e:
        main(["mtl-data", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_helpfull_lists_every_dataset_and_the_data_flags(helpfull):
    proc = helpfull   # python -m mtl_tf.train --helpfull
    text = "".join(proc.stdout.split())  # help lines wrap anywhere
    for name in list(DATASETS) + ["--task_sampling", "--relatedness", "--slate_size", "--data_dir"]:
        assert name in text, f"{name} missing from mtl-train --helpfull"


@pytest.mark.parametrize("name", OFFLINE)
def test_flag_file_trains_on_embedded_data(name, tmp_path):
    from mtl_tf.train import run_training
    path = os.path.join(REPO, "flags", f"data_{name}.flags")
    assert os.path.exists(path), f"flags/data_{name}.flags is missing"
    with flagsaver.flagsaver():
        FLAGS(["mtl-train", f"--flagfile={path}", "--steps=50", "--eval_every=0", "--num_examples=2000",
               "--quiet", f"--run_dir={tmp_path}"])
        assert FLAGS.dataset == name and FLAGS.model == "shared_bottom" and FLAGS.objective == "sum"
        results = run_training(FLAGS)
    assert results["steps"] == 50 and results["traces"] == 1
    assert set(results["tasks"]) == set(results["baseline"])
