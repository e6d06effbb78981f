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
