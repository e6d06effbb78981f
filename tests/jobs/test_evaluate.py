import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import evaluate
from jobs.common import storage
from jobs.common.cli import EXIT_USAGE
from jobs.common.outputs import PREDICTIONS_SCHEMA
from jobs.common.storage import StorageConfig


def _predictions(video_id, width, height, rows):
    """rows: (frame, visible, x, y) in source pixels."""
    frame = pd.DataFrame(rows, columns=["frame", "visible", "x", "y"])
    n = len(frame)
    frame["x"] = frame["x"].where(frame["visible"])
    frame["y"] = frame["y"].where(frame["visible"])
    frame = frame.assign(
        video_id=video_id, timestamp_s=frame["frame"] / 30.0, score=np.float32(0.9),
        raw_visible=frame["visible"], raw_x=frame["x"], raw_y=frame["y"],
        filled=False, rejected=False, width=np.int32(width), height=np.int32(height), fps=30.0,
        model_version="test-000000000000",
    )
    assert n == len(frame)
    table = pa.Table.from_pandas(frame[PREDICTIONS_SCHEMA.names], schema=PREDICTIONS_SCHEMA, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _write_case(pred_root: str, label_root: str, cfg: StorageConfig) -> None:
    # Video a: 1024x576 source, so 1 px at 512x288 is 2 px at source.
    a_pred = [(0, True, 100, 100), (1, True, 200, 100), (2, True, 300, 100), (3, True, 400, 100),
              (4, True, 500, 100), (5, True, 50, 50), (6, False, 0, 0), (7, False, 0, 0), (8, False, 0, 0)]
    a_labels = "Frame,Visibility,X,Y\n" + "\n".join([
        "0,1,102,100", "1,1,200,106", "2,1,300,100", "3,1,400,107",  # errors 1, 3, 0, 3.5 px at eval: TP
        "4,1,520,100",  # 10 px at eval: FP1
        "5,0,0,0",  # FP2
        "6,1,60,60",  # FN
        "7,0,0,0", "8,0,0,0",  # TN
        "9,1,70,70",  # labelled, never predicted: FN, counted as missing
    ]) + "\n"
    b_pred = [(f, True, 640.0 + f, 360.0) for f in range(4)]
    b_labels = "Frame,Ball,x,y\n" + "\n".join(f"{f},1,{(640 + f) / 1280:.6f},0.5" for f in range(4)) + "\n"
    storage.write_bytes(storage.join(pred_root, "predictions", "a.parquet"), _predictions("a", 1024, 576, a_pred), cfg)
    storage.write_bytes(storage.join(pred_root, "predictions", "season=2024", "b.parquet"),
                        _predictions("season=2024/b", 1280, 720, b_pred), cfg)
    storage.write_bytes(storage.join(pred_root, "predictions", "c.parquet"), _predictions("c", 64, 64, [(0, False, 0, 0)]), cfg)
    storage.write_bytes(storage.join(label_root, "a.csv"), a_labels.encode(), cfg)
    storage.write_bytes(storage.join(label_root, "season=2024", "b.csv"), b_labels.encode(), cfg)
    storage.write_bytes(storage.join(label_root, "d.csv"), b"Frame,Visibility,X,Y\n0,0,0,0\n", cfg)


def _check(pred_root, label_root, cfg, argv_extra, capsys):
    code = evaluate.main([f"predictions={pred_root}", f"labels={label_root}", *argv_extra])
    out = capsys.readouterr().out
    assert code == evaluate.EXIT_OK
    assert "predictions but no labels (1): c" in out and "labels but no predictions (1): d" in out
    assert "tolerance 4 px at 512x288" in out
    table = pq.read_table(io.BytesIO(storage.read_bytes(storage.join(pred_root, "evaluation", "evaluation.parquet"), cfg))).to_pandas()
    rows = table.set_index("video_id")
    counts = ["tp", "fp1", "fp2", "fn", "tn"]
    assert rows.loc["a", counts].tolist() == [4, 1, 1, 2, 2]
    assert rows.loc["a", "missing_prediction_frames"] == 1
    assert rows.loc["season=2024/b", counts].tolist() == [4, 0, 0, 0, 0]
    assert rows.loc[evaluate.OVERALL, counts].tolist() == [8, 1, 1, 2, 2]
    assert rows.loc[evaluate.OVERALL, "precision"] == pytest.approx(0.8)
    assert rows.loc[evaluate.OVERALL, "recall"] == pytest.approx(0.8)
    assert rows.loc["a", "median_error_px"] == pytest.approx(3.0)  # errors 1, 3, 0, 3.5, 10
    png = storage.read_bytes(storage.join(pred_root, "evaluation", "report.png"), cfg)
    assert png.startswith(b"\x89PNG")


def test_evaluate_local_exact_counts(tmp_path, capsys):
    pred, labels = str(tmp_path / "pred"), str(tmp_path / "labels")
    _write_case(pred, labels, StorageConfig())
    _check(pred, labels, StorageConfig(), [], capsys)


def test_evaluate_on_s3(s3_server, s3_bucket, capsys):
    cfg = StorageConfig(endpoint_url=s3_server)
    pred, labels = f"s3://{s3_bucket}/pred", f"s3://{s3_bucket}/labels"
    _write_case(pred, labels, cfg)
    _check(pred, labels, cfg, [f"storage.endpoint_url={s3_server}"], capsys)


def test_tolerance_is_configurable(tmp_path, capsys):
    pred, labels = str(tmp_path / "pred"), str(tmp_path / "labels")
    _write_case(pred, labels, StorageConfig())
    assert evaluate.main([f"predictions={pred}", f"labels={labels}", "tolerance_px=10"]) == 0
    table = pq.read_table(tmp_path / "pred" / "evaluation" / "evaluation.parquet").to_pandas().set_index("video_id")
    assert table.loc["a", ["tp", "fp1"]].tolist() == [5, 0]
    assert "tolerance 10 px" in capsys.readouterr().out


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
    assert evaluate.main(["labels=x"]) == EXIT_USAGE
    assert "predictions must be set" in capsys.readouterr().err
    assert evaluate.main([f"predictions={tmp_path / 'none'}", f"labels={tmp_path}"]) == EXIT_USAGE
    assert "none" in capsys.readouterr().err
    pred, labels = str(tmp_path / "pred"), str(tmp_path / "labels")
    _write_case(pred, labels, StorageConfig())
    (tmp_path / "labels" / "a.csv").write_text("Frame,Visibility,X,Y\n0,1,zz,3\n")
    assert evaluate.main([f"predictions={pred}", f"labels={labels}"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "a.csv" in err and "line 2" in err
