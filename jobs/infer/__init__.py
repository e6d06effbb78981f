"""Batch inference at archive scale: per-frame ball positions for every video under an input URI.

    python -m jobs.infer --config conf/infer.yaml input=URI output=URI [key=value ...]

For example, a season on S3 with 8 GPU actors, resuming a previous run:

    python -m jobs.infer --config conf/infer.yaml input=s3://arch/season=2024 \\
        output=s3://results/tracknet num_actors=8 gpus_per_actor=1 predictor.batch_size=64

`input` is a folder/prefix (searched recursively), a glob (`s3://arch/2024/*/final*.mp4`;
`*` also matches across folders), a manifest file listing one video URI per line, or
one video. Each video goes through stages (jobs.infer.stages), each with its own run
ledger entry, so a run does exactly the work missing from the output:

    predict    the model pass -> predictions parquet, the record of truth (pipeline.py)
    analysis   shots and players -> shots table + prediction columns   (analysis.py)
    csv, json, overlay, clips   derived from the predictions, no model (finish.py)

Adding an output later (`outputs.json=true`, `outputs.overlays=true`, `players.enabled=true`)
never runs the model again; changing the model or a detection setting redoes everything.

The package, one module per role: config.py (InferConfig), stages.py (stage keys and the
per-video plan), pipeline.py (the Ray Data model pass), analysis.py (the per-video
shot/player task), finish.py (commits and ledger writes), run.py (the run and its report).
Output layout and schemas: jobs/common/outputs.py. Resume rules: jobs/common/ledger.py.

Exit codes (jobs.common.cli): 0 every video ok (or already done); 2 bad config, input or
model (nothing processed); 3 some videos failed (reasons in the printed and parquet summary).
"""

from jobs.common.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from jobs.common.inputs import InputError, list_videos
from jobs.infer.config import InferConfig
from jobs.infer.run import RunReport, format_report, main, run_inference

__all__ = [
    "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "InferConfig", "InputError", "RunReport", "format_report",
    "list_videos", "main", "run_inference",
]
