"""jobs.label: select, export (frames, Ground Truth, Label Studio), import; the whole labelling loop.

Synthetic clips with exact labels stand in for the annotators: their truth is written in each
tool's own output format, so import reads what the tools write.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from jobs import evaluate, featurize, train
from jobs.common import storage
from jobs.common.config import load_config
from jobs.common.storage import StorageConfig
from jobs.infer import InferConfig, run_inference
from jobs.label import LabelConfig, main, run
from jobs.label.select import read_selection
from tracknet.checkpoint import load_checkpoint
from tracknet.labels import read_labels
from tracknet.synth import SynthConfig, write_clip
from tracknet.weights import synthetic_checkpoint_path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf" / "label.yaml"
CLIPS = {"rally_a": 48, "court2/rally_b": 40, "rally_c": 44}
FAST = ["predictor.device=cpu", "predictor.runtime=torch", "predictor.precision=fp32", "predictor.flip_tta=false",
        "predictor.batch_size=4"]


def make_clips(root: Path, clips: dict[str, int], truth: Path) -> None:
    """Synthetic clips under root; their exact labels under truth (not beside the videos: labels are the output)."""
    for seed, (video_id, frames) in enumerate(clips.items()):
        video = root / f"{video_id}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        write_clip(video, SynthConfig(width=160, height=96, frames=frames, seed=seed + 3))
        (truth / video_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(video.with_suffix(".csv"), truth / f"{video_id}.csv")


def label_config(videos: str, output: str, *overrides: str) -> LabelConfig:
    return load_config(LabelConfig, CONF, [f"input={videos}", f"output={output}",
                                           f"model={synthetic_checkpoint_path()}", *FAST, *overrides])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Clips, their truth, and one inference run over them (the predictions select reuses)."""
    root = tmp_path_factory.mktemp("label")
    videos, truth = root / "videos", root / "truth"
    make_clips(videos, CLIPS, truth)
    return {"root": root, "videos": videos, "truth": truth}


@pytest.fixture(scope="module")
def predictions(workspace, ray_local) -> Path:
    out = workspace["root"] / "infer"
    report = run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={workspace['videos']}", f"output={out}", f"model={synthetic_checkpoint_path()}", *FAST]))
    assert report.count("ok") == len(CLIPS)
    return out


def ls_result(data: dict, truth: Path) -> list[dict]:
    """An annotator's exact answer for one task, as Label Studio stores a result (written here, not by jobs.label)."""
    row = pd.read_csv(truth / f"{data['video_id']}.csv").set_index("Frame").loc[data["frame"]]
    width, height = data["width"], data["height"]
    if row["Visibility"] == 1:
        return [{"id": f"k{data['frame']}", "type": "keypointlabels", "from_name": "ball", "to_name": "image",
                 "original_width": width, "original_height": height, "image_rotation": 0, "origin": "manual",
                 "value": {"x": 100.0 * row["X"] / width, "y": 100.0 * row["Y"] / height, "width": 0.5,
                           "keypointlabels": ["ball"]}}]
    return [{"id": f"c{data['frame']}", "type": "choices", "from_name": "visibility", "to_name": "image",
             "origin": "manual", "value": {"choices": ["no ball"]}}]


def ls_export(tasks: list[dict], truth: Path) -> list[dict]:
    """What Label Studio's JSON export gives after an annotator labels every task with the exact position."""
    return [
        {"id": number, "data": task["data"], "predictions": [], "file_upload": None,
         "annotations": [{"id": 100 + number, "completed_by": 1, "was_cancelled": False, "ground_truth": False,
                          "lead_time": 2.5, "result": ls_result(task["data"], truth)}]}
        for number, task in enumerate(tasks, 1)
    ]


def assert_matches_truth(csv: Path, truth: Path, frames: list[int]) -> None:
    written = read_labels(csv).set_index("frame")
    exact = read_labels(truth).set_index("frame")
    assert sorted(written.index) == sorted(frames)
    assert (written["visible"] == exact.loc[frames, "visible"]).all()
    shown = written["visible"] == 1
    # TrackNet CSV holds whole pixels: the round trip is exact to half a pixel.
    assert np.abs(written.loc[shown, ["x_px", "y_px"]].to_numpy() - exact.loc[shown[shown].index, ["x_px", "y_px"]]
                  .to_numpy()).max() <= 0.5


# ------------------------------------------------------------------------------------------ select


def test_select_reuses_predictions_spreads_picks_and_random_differs(ray_local, workspace, predictions, tmp_path):
    uncertain = label_config(str(workspace["videos"]), str(tmp_path / "u"), f"predictions={predictions}",
                             "steps=[select]", "select.budget_frames=40", "select.stretch_frames=8",
                             "select.min_gap_frames=4")
    run(uncertain)
    assert not (tmp_path / "u" / "infer").exists()  # no model pass: the predictions were reused
    picked = read_selection(uncertain)
    assert len(picked) == 40 and picked["stretch"].nunique() == 5
    for _, rows in picked.groupby("stretch"):
        assert rows["video_id"].nunique() == 1 and np.all(np.diff(rows["frame"]) == 1) and len(rows) == 8
    assert picked["video_id"].nunique() >= 2  # spread over videos
    # The first pick is the most doubtful stretch: its score is the highest of all picks.
    scores = picked.groupby("stretch")["stretch_score"].first()
    assert scores.iloc[0] == scores.max()

    randomly = label_config(str(workspace["videos"]), str(tmp_path / "r"), f"predictions={predictions}",
                            "steps=[select]", "select.budget_frames=40", "select.stretch_frames=8",
                            "select.min_gap_frames=4", "select.strategy=random")
    run(randomly)
    chosen = read_selection(randomly)
    assert len(chosen) == 40 and set(chosen["strategy"]) == {"random"}
    assert set(zip(chosen["video_id"], chosen["frame"])) != set(zip(picked["video_id"], picked["frame"]))


# ------------------------------------------------------------------------------------------ Ground Truth


def groundtruth_output(manifest: list[dict], truth: Path, sequences: dict[str, dict], out: Path) -> list[dict]:
    """What a finished Ground Truth job writes: SeqLabel.json per sequence (renumbered from 0) and the output manifest."""
    lines = []
    for number, line in enumerate(manifest):
        sequence = sequences[line["source-ref"]]
        video_id = sequence["prefix"].rstrip("/").rsplit("/frames/", 1)[1]
        exact = pd.read_csv(truth / f"{video_id}.csv").set_index("Frame")
        entries = []
        for index, frame in enumerate(sequence["frames"]):
            row = exact.loc[frame["frame-no"]]
            points = ([{"label": "ball", "object-id": "ball:1", "object-name": "ball:1", "x": float(row["X"]),
                        "y": float(row["Y"])}] if row["Visibility"] == 1 else [])
            if points or index % 2:  # frames without a ball: sometimes listed empty, sometimes left out
                entries.append({"frame-no": index, "frame": frame["frame"], "keypoints": points,
                                "frame-attributes": {}})
        seq_label = out / f"seq{number}" / "SeqLabel.json"
        seq_label.parent.mkdir(parents=True)
        seq_label.write_text(json.dumps({"tracking-annotations": entries}))
        lines.append({"source-ref": line["source-ref"], "ball-ref": str(seq_label),
                      "ball-ref-metadata": {"class-map": {"0": "ball"}, "job-name": "labeling-job/tracknet-ball",
                                            "type": "groundtruth/video-object-tracking", "human-annotated": "yes"}})
    return lines


@pytest.mark.parametrize("where", ["local", "s3"])
def test_groundtruth_files_follow_the_documented_format_and_import_back(
        ray_local, s3_server, s3_bucket, workspace, predictions, tmp_path, where):
    config_s3 = StorageConfig(endpoint_url=s3_server)
    if where == "s3":
        videos = f"s3://{s3_bucket}/videos"
        for video_id in CLIPS:
            storage.upload_file(workspace["videos"] / f"{video_id}.mp4", f"{videos}/{video_id}.mp4", config_s3)
        output, extra = f"s3://{s3_bucket}/round1", [f"storage.endpoint_url={s3_server}"]
    else:
        videos = str(tmp_path / "videos")
        shutil.copytree(workspace["videos"], videos)
        output, extra = str(tmp_path / "round1"), []
    config = label_config(videos, output, f"predictions={predictions}", "select.budget_frames=36",
                          "select.stretch_frames=6", "select.min_gap_frames=4", "labelstudio.enabled=false", *extra)
    run(config)

    gt = storage.join(output, "groundtruth")
    manifest = [json.loads(line) for line in storage.read_bytes(f"{gt}/manifest.jsonl", config.storage).splitlines()]
    assert len(manifest) == 6 and all(set(line) == {"source-ref"} for line in manifest)
    selection = read_selection(config)
    sequences = {}
    for seq_no, line in enumerate(manifest, 1):
        sequence = json.loads(storage.read_bytes(line["source-ref"], config.storage))
        sequences[line["source-ref"]] = sequence
        assert set(sequence) == {"seq-no", "prefix", "number-of-frames", "frames"} and sequence["seq-no"] == seq_no
        assert sequence["prefix"].startswith(f"{output}/frames/") and sequence["prefix"].endswith("/")
        assert sequence["number-of-frames"] == len(sequence["frames"]) == 6
        for frame in sequence["frames"]:
            assert set(frame) == {"frame-no", "unix-timestamp", "frame"}
            # Every frame reference is a JPEG in storage, at the video's resolution.
            data = storage.read_bytes(sequence["prefix"] + frame["frame"], config.storage)
            assert data[:2] == b"\xff\xd8"
        stamps = [f["unix-timestamp"] for f in sequence["frames"]]
        assert stamps == sorted(stamps)
    assert sum(len(s["frames"]) for s in sequences.values()) == len(selection)
    categories = json.loads(storage.read_bytes(f"{gt}/label_categories.json", config.storage))
    assert categories["document-version"] == "2020-08-15" and categories["labels"] == [{"label": "ball"}]
    request = json.loads(storage.read_bytes(f"{gt}/create_labeling_job.json", config.storage))
    assert request["LabelAttributeName"].endswith("-ref")
    assert request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"] == f"{gt}/manifest.jsonl"
    assert request["LabelCategoryConfigS3Uri"] == f"{gt}/label_categories.json"
    ui = request["HumanTaskConfig"]["UiConfig"]["HumanTaskUiArn"]
    assert ui == "arn:aws:sagemaker:us-east-1:394669845002:human-task-ui/VideoObjectTracking"
    assert request["HumanTaskConfig"]["PreHumanTaskLambdaArn"].endswith(":function:PRE-VideoObjectTracking")

    # The labelling job's output, then import: TrackNet CSV beside each video.
    out_manifest = tmp_path / "output.manifest"
    lines = groundtruth_output(manifest, workspace["truth"], sequences, tmp_path / "gt-out")
    out_manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run(label_config(videos, output, "steps=[import]", f"annotations={out_manifest}", *extra))
    for video_id, rows in selection.groupby("video_id"):
        local_csv = tmp_path / "check" / f"{video_id}.csv"
        local_csv.parent.mkdir(parents=True, exist_ok=True)
        local_csv.write_bytes(storage.read_bytes(f"{videos}/{video_id}.csv", config.storage))
        assert_matches_truth(local_csv, workspace["truth"] / f"{video_id}.csv", sorted(rows["frame"]))


# ------------------------------------------------------------------------------------------ bad input


def test_bad_input_exits_2_naming_the_file(ray_local, workspace, predictions, tmp_path, capsys):
    base = [f"input={workspace['videos']}", f"model={synthetic_checkpoint_path()}", *FAST]
    assert main([*base, f"output={tmp_path / 'w'}", "steps=[export]"]) == 2
    assert f"{tmp_path / 'w' / 'selection.parquet'}: no readable selection" in capsys.readouterr().err

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([{"data": {"image": "x.jpg"}, "annotations": [{"result": []}]}]))
    assert main([*base, "steps=[import]", f"annotations={wrong}"]) == 2
    err = capsys.readouterr().err
    assert str(wrong) in err and "data has no 'video_id'" in err

    assert main([*base, "steps=[import]", f"annotations={tmp_path / 'missing.json'}"]) == 2
    assert f"{tmp_path / 'missing.json'}: file not found" in capsys.readouterr().err

    assert main([*base, f"output={tmp_path / 'w'}", "select.strategy=smart"]) == 2
    assert "select.strategy must be one of uncertainty, random" in capsys.readouterr().err
    assert main([*base, "steps=[import]"]) == 2
    assert "import needs annotations=FILE" in capsys.readouterr().err


def test_import_merges_rounds_and_checks_labels_before_writing(workspace, tmp_path, capsys):
    """No Ray: import reads the export, probes the videos and writes CSVs on the driver."""
    videos = tmp_path / "videos"
    shutil.copytree(workspace["videos"], videos)
    earlier = "Frame,Visibility,X,Y\n0,1,10,20\n1,0,0,0\n5,1,30,40\n"
    (videos / "rally_a.csv").write_text(earlier)
    data = {"video_id": "rally_a", "width": 160, "height": 96}
    tasks = [{"data": {**data, "frame": frame}} for frame in (5, 6)]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(ls_export(tasks, workspace["truth"])))
    assert main([f"input={videos}", "steps=[import]", f"annotations={export}"]) == 0
    merged = read_labels(videos / "rally_a.csv")
    assert merged["frame"].tolist() == [0, 1, 5, 6]  # round 1's frames kept, frame 5 relabelled
    assert merged.iloc[0][["visible", "x_px", "y_px"]].tolist() == [1, 10.0, 20.0]
    exact = read_labels(workspace["truth"] / "rally_a.csv").set_index("frame")
    assert merged.set_index("frame").loc[5, "visible"] == exact.loc[5, "visible"]

    # A point outside the 160x96 frame: nothing is written, the error names the export.
    bad = ls_export([{"data": {**data, "frame": 7}}], workspace["truth"])
    bad[0]["annotations"][0]["result"] = [{"from_name": "ball", "to_name": "image", "type": "keypointlabels",
                                           "original_width": 160, "original_height": 96,
                                           "value": {"x": 150.0, "y": 50.0, "keypointlabels": ["ball"]}}]
    export.write_text(json.dumps(bad))
    before = (videos / "rally_a.csv").read_bytes()
    assert main([f"input={videos}", "steps=[import]", f"annotations={export}"]) == 2
    assert f"{export}: 1 visible label(s) lie outside the 160x96 video frame" in capsys.readouterr().err
    assert (videos / "rally_a.csv").read_bytes() == before


def test_conf_maps_onto_the_config():
    config = load_config(LabelConfig, CONF, ["input=v", "output=o"])
    assert config.steps == ("select", "export") and config.select.strategy == "uncertainty"
    assert config.predictor.flip_tta and config.groundtruth.enabled and config.labelstudio.enabled


# ------------------------------------------------------------------------------------------ the loop


@pytest.mark.slow
def test_the_whole_loop_on_synthetic_clips(ray_local, workspace, tmp_path):
    """infer (by select), select, export, annotate (Label Studio's export of exact labels), import,
    featurize the labelled stretches, fine-tune a few steps from the model, evaluate on a held-out clip."""
    videos = tmp_path / "videos"
    shutil.copytree(workspace["videos"], videos)
    held_out, held_truth = tmp_path / "held_out", tmp_path / "held_truth"
    make_clips(held_out, {"rally_v": 30}, held_truth)
    out = tmp_path / "round1"

    # select runs the model itself here (no predictions=): a jobs.infer run into <output>/infer.
    config = label_config(str(videos), str(out), "select.budget_frames=60", "select.stretch_frames=10",
                          "select.min_gap_frames=2")
    run(config)
    assert (out / "infer" / "predictions").is_dir()
    tasks = json.loads((out / "labelstudio" / "tasks.json").read_text())
    assert len(tasks) == 60
    assert all(t["predictions"][0]["result"] for t in tasks)  # pre-annotations on every frame
    assert '<KeyPointLabels name="ball"' in (out / "labelstudio" / "config.xml").read_text()

    export = tmp_path / "label-studio-export.json"
    export.write_text(json.dumps(ls_export(tasks, workspace["truth"])))
    run(label_config(str(videos), str(out), "steps=[import]", f"annotations={export}"))
    selection = read_selection(config)
    for video_id, rows in selection.groupby("video_id"):
        assert_matches_truth(videos / f"{video_id}.csv", workspace["truth"] / f"{video_id}.csv", sorted(rows["frame"]))
    # Importing the same export again changes nothing.
    before = {p: p.read_bytes() for p in videos.rglob("*.csv")}
    run(label_config(str(videos), str(out), "steps=[import]", f"annotations={export}"))
    assert {p: p.read_bytes() for p in videos.rglob("*.csv")} == before

    # The held-out clip has whole-video labels; both kinds go through featurize together.
    shutil.copy(held_out / "rally_v.mp4", videos / "rally_v.mp4")
    shutil.copy(held_truth / "rally_v.csv", videos / "rally_v.csv")
    windows = tmp_path / "windows"
    report = featurize.run(load_config(featurize.FeaturizeConfig, None, [
        f"input={videos}", f"output={windows}", "split.val_videos=[rally_v]"]))
    assert report.count("ok") == len(CLIPS) + 1
    labelled = {v.video_id: v for v in report.videos}
    assert sum(labelled[v].labelled_frames for v in CLIPS) == 60
    assert report.windows_in("train") == 60 - 2 * selection["stretch"].nunique()  # frames_in=3 per 10-frame stretch

    trained = train.run(load_config(train.TrainConfig, None, [
        f"windows={windows}", f"init_from={synthetic_checkpoint_path()}", "model.width_mult=0.125", "epochs=1",
        "batch_size=8", "val_batch_size=4", f"storage_path={tmp_path / 'runs'}", f"output={tmp_path / 'models'}",
        "run_name=round1"]))
    model = load_checkpoint(trained.model_uri)
    assert model.metadata["training_config"]["init_from"] == str(synthetic_checkpoint_path())

    scored = tmp_path / "scored"
    run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={held_out}", f"output={scored}", f"model={trained.model_uri}", *FAST]))
    table, _, _ = evaluate.run(load_config(evaluate.EvaluateConfig, None, [
        f"predictions={scored}", f"labels={held_truth}"]))
    overall = table.iloc[-1]
    assert overall["tp"] + overall["fp1"] + overall["fp2"] + overall["fn"] + overall["tn"] == 30
    assert 0.0 <= overall["f1"] <= 1.0 and (scored / "evaluation" / "evaluation.parquet").exists()


# ------------------------------------------------------------------------------------------ Label Studio


LABEL_STUDIO = REPO / ".venv-labelstudio" / "bin" / "label-studio"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A real Label Studio (its default SQLite) on 127.0.0.1: (base URL, API token).

    Installed by `make install` into .venv-labelstudio; skipped without it, except in CI, where its
    absence is a failure.
    """
    if not LABEL_STUDIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{LABEL_STUDIO} is missing: `make install` installs Label Studio for this test")
        pytest.skip(f"Label Studio not installed ({LABEL_STUDIO}; `make install` installs it)")
    home = tmp_path_factory.mktemp("label-studio")
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    token = "tracknet-test-token-0123456789"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_", "LABEL_STUDIO_"))}
    env |= {"HOME": str(home), "LABEL_STUDIO_BASE_DATA_DIR": str(home / "data"),
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    log = open(home / "server.log", "wb")
    server = subprocess.Popen(
        [str(LABEL_STUDIO), "start", "--no-browser", "--data-dir", str(home / "data"), "--internal-host", "127.0.0.1",
         "--port", str(port), "--username", "annotator@example.com", "--password", "not-a-secret-1",
         "--user-token", token, "--enable-legacy-api-token"],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(f"Label Studio exited with {server.returncode}: {(home / 'server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Label Studio did not answer in 300 s: {(home / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.slow
def test_label_studio_round_trip_through_a_real_server(ray_local, label_studio, workspace, predictions, tmp_path):
    """Project from the exported config, tasks with pre-annotations imported, every task annotated as an annotator
    would (corrected to the exact position), Label Studio's JSON export imported by jobs.label."""
    url, token = label_studio
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    videos = tmp_path / "videos"
    shutil.copytree(workspace["videos"], videos)
    out = tmp_path / "round1"
    run(label_config(str(videos), str(out), f"predictions={predictions}", "select.budget_frames=24",
                     "select.stretch_frames=6", "select.min_gap_frames=4", "groundtruth.enabled=false",
                     "labelstudio.image_root=/data/local-files/?d=frames"))

    project = api.post(f"{url}/api/projects", json={
        "title": "ball round 1", "label_config": (out / "labelstudio" / "config.xml").read_text()})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    tasks = json.loads((out / "labelstudio" / "tasks.json").read_text())
    imported = api.post(f"{url}/api/projects/{project_id}/import", json=tasks)
    assert imported.status_code == 201, imported.text
    assert imported.json()["task_count"] == 24 and imported.json()["prediction_count"] == 24

    listed = api.get(f"{url}/api/tasks", params={"project": project_id, "page_size": 100})
    assert listed.status_code == 200, listed.text
    stored = listed.json()["tasks"]
    assert len(stored) == 24
    for task in stored:
        assert task["data"]["image"].startswith("/data/local-files/?d=frames/")
        answer = api.post(f"{url}/api/tasks/{task['id']}/annotations",
                          json={"result": ls_result(task["data"], workspace["truth"]), "was_cancelled": False,
                                "lead_time": 3.0})
        assert answer.status_code == 201, answer.text

    exported = api.get(f"{url}/api/projects/{project_id}/export", params={"exportType": "JSON"})
    assert exported.status_code == 200, exported.text
    export = tmp_path / "export.json"
    export.write_bytes(exported.content)
    assert main([f"input={videos}", "steps=[import]", f"annotations={export}"]) == 0
    selection = read_selection(label_config(str(videos), str(out)))
    for video_id, rows in selection.groupby("video_id"):
        assert_matches_truth(videos / f"{video_id}.csv", workspace["truth"] / f"{video_id}.csv", sorted(rows["frame"]))
