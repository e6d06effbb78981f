"""What a person sees at the command line: help that lists every key, errors that point at the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs import evaluate, featurize, infer, serve, train
from jobs.common.cli import EXIT_USAGE
from jobs.common.config import ConfigError, config_keys, load_config
from jobs.evaluate import EvaluateConfig
from jobs.featurize import FeaturizeConfig
from jobs.infer import InferConfig
from jobs.serving.config import ServeConfig
from jobs.train import TrainConfig
from tests.jobs.test_infer import make_clip

REPO = Path(__file__).resolve().parents[2]
JOBS = [
    (featurize.main, FeaturizeConfig, "featurize"),
    (train.main, TrainConfig, "train"),
    (infer.main, InferConfig, "infer"),
    (evaluate.main, EvaluateConfig, "evaluate"),
    (serve.main, ServeConfig, "serve"),
]


@pytest.mark.parametrize("main, cls, name", JOBS, ids=[job[2] for job in JOBS])
def test_help_lists_every_key_with_its_default_and_doc(main, cls, name, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m jobs.{name} ")
    assert f"conf/{name}.yaml" in text
    keys = config_keys(cls)
    assert len(keys) > 5
    for key in keys:
        assert re.search(rf"^  {re.escape(key)}(:|  \()", text, re.MULTILINE), key
    # Types, defaults and docs come from the dataclasses' fields.
    line = next(line for line in text.splitlines() if line.startswith("  storage.endpoint_url "))
    assert "(str or null, default null)" in line and "S3" in line


def test_a_typo_on_the_command_line_names_the_command_line_and_the_nearest_key(capsys):
    assert infer.main(["input=videos", "output=out", "batchsize=4"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "command line" in error and "conf/infer.yaml" not in error
    assert "did you mean 'predictor.batch_size'?" in error


def test_a_typo_in_a_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("input: videos\noutput: out\npredictor:\n  treshold: 0.4\n")
    with pytest.raises(ConfigError) as raised:
        load_config(InferConfig, path)
    assert f"{path}, line 4: unknown key 'predictor.treshold' (did you mean 'predictor.threshold'?)" in str(raised.value)
    with pytest.raises(ConfigError, match=r"line 2: output must be str"):
        path.write_text("input: videos\noutput: [1, 2]\n")
        load_config(InferConfig, path)


def test_no_arguments_say_what_is_required(capsys):
    assert infer.main([]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "input and output are required" in error and "InferConfig" not in error


def test_a_bad_checkpoint_is_named_without_torchs_unsafe_advice(tmp_path, capsys):
    videos = tmp_path / "videos"
    make_clip(videos / "a.mp4", frames=6)
    assert infer.main([f"input={videos}", f"output={tmp_path / 'out'}", f"model={REPO / 'README.md'}"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert f"{REPO / 'README.md'}: not a readable checkpoint" in error
    assert "weights_only" not in error.replace("weights-only", "") and "Re-running" not in error


def test_a_text_file_named_mp4_gets_words_not_an_error_number(tmp_path):
    from tracknet.errors import VideoError
    from tracknet.video import probe

    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n")
    with pytest.raises(VideoError) as raised:
        probe(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not a readable video (invalid data")
    assert not re.search(r"\d{4,}|Errno", message)


def test_a_job_in_a_log_file_prints_a_few_plain_lines(tmp_path):
    """Not a terminal (CI, `ray job submit`, a log file): no escape codes, no Ray progress bars, a
    bounded log whose end names every output."""
    import subprocess
    import sys

    from tracknet.weights import synthetic_checkpoint_path

    videos = tmp_path / "videos"
    for i in range(3):
        make_clip(videos / f"v{i}.mp4", frames=24, seed=i)
    out = tmp_path / "out"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RAY_ADDRESS")}
    done = subprocess.run(
        [sys.executable, "-m", "jobs.infer", f"input={videos}", f"output={out}",
         f"model={synthetic_checkpoint_path()}", "predictor.device=cpu", "outputs.json=true"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    lines = log.splitlines()
    assert len(lines) < 100, log
    assert "\x1b[" not in log and "\r" not in log
    assert any(line.startswith("jobs.infer: 3/3 videos, 72/72 frames") for line in lines), log
    assert "Traceback" not in log
    for folder in ("predictions", "csv", "json"):
        assert f"{out}/{folder}/" in log
