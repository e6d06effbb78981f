"""The labelling loop: pick the frames worth labelling, hand them to annotators, take the labels back.

    python -m jobs.label --config conf/label.yaml input=VIDEOS output=WORKSPACE [key=value ...]
    # reuse an existing inference run's predictions instead of a model pass:
    python -m jobs.label input=s3://arch/new-venue output=s3://labels/round-1 predictions=s3://results/new-venue
    # after the annotators: labels back as TrackNet CSV beside the videos
    python -m jobs.label input=s3://arch/new-venue steps=[import] annotations=export.json

Steps (`steps=`, run in this order):

    select   stretches of frames where the model is least sure, within select.budget_frames
             (select.py; the scoring is tracknet.picking)   -> selection.parquet
    export   the frames as JPEG at source resolution (frames.py), SageMaker Ground Truth video-frame
             tasks (export_groundtruth.py) and Label Studio tasks (export_labelstudio.py)
    import   a Label Studio JSON export or a Ground Truth output manifest -> <video_id>.csv (import_.py)

Re-running a step writes the same files again (the model pass, when select runs one, is a
jobs.infer run into <output>/infer and skipped by its ledger). Exit codes (jobs.common.cli):
0 done; 2 bad config, input, labels or model (one line naming the file).
"""

from jobs.label.config import LabelConfig
from jobs.label.run import main, run

__all__ = ["LabelConfig", "main", "run"]
