"""A learned person detector: a user-supplied YOLO-style ONNX model, run with onnxruntime.

The court logic (`tracknet.players.selection`) then keeps the two players among the
people found, as for the default detector; no background is needed.

Model contract:

- one input, float32 (1, 3, H, W): RGB in [0, 1], the frame letterboxed to W x H (scaled
  to fit, aspect kept, centred, padded with grey 114/255), as Ultralytics exports expect.
  H and W come from the model's input shape (640 each when dynamic);
- the first output, float32, in one of two layouts (`layout`):
  - ``yolov8`` (YOLOv8/YOLO11 exports): (1, 4 + C, N): per candidate box centre x,
    centre y, width, height in input pixels, then C class scores;
  - ``yolov5``: (1, N, 5 + C): centre x, centre y, width, height, objectness, then C
    class scores (a box's score is objectness x class score).

Boxes of class `person_class` scoring at least `min_score` are kept, overlapping ones
merged by non-maximum suppression (IoU 0.5), and mapped back to frame pixels.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from tracknet.errors import TrackNetError
from tracknet.players.base import Candidate, ShotContext

_PAD_GREY = 114
_NMS_IOU = 0.5
_DEFAULT_SIZE = 640


class DetectorModelError(TrackNetError):
    """A person detection model is missing, unreadable or does not follow the contract."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OnnxPersonDetector:
    """People from a YOLO-style ONNX model; see the module doc for the model contract."""

    uses_background = False

    def __init__(
        self,
        model_path: str | os.PathLike,
        layout: str = "yolov8",
        person_class: int = 0,
        min_score: float = 0.25,
        min_height_fraction: float = 0.04,
    ) -> None:
        import onnxruntime

        self.path = os.fspath(model_path)
        if layout not in ("yolov8", "yolov5"):
            raise ValueError(f"layout must be 'yolov8' or 'yolov5', got {layout!r}")
        if not os.path.isfile(self.path):
            raise DetectorModelError(self.path, "person detection model not found")
        try:
            self.session = onnxruntime.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise DetectorModelError(self.path, f"not a readable ONNX model ({exc})") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DetectorModelError(self.path, "needs one input of shape (1, 3, H, W)")
        self.input_name = inputs[0].name
        height, width = inputs[0].shape[2:]
        self.input_size = (
            width if isinstance(width, int) else _DEFAULT_SIZE,
            height if isinstance(height, int) else _DEFAULT_SIZE,
        )
        self.layout = layout
        self.person_class = person_class
        self.min_score = min_score
        self.min_height_fraction = min_height_fraction

    def begin_shot(self, shot: ShotContext) -> None:
        """Nothing to prepare: every frame is searched on its own."""

    def detect(self, image: np.ndarray) -> list[Candidate]:
        h, w = image.shape[:2]
        batch, scale, (pad_x, pad_y) = self._letterbox(image)
        output = np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)
        boxes, scores = self._decode(output)  # (M, 4) cx, cy, bw, bh in input pixels; (M,)
        keep = scores >= self.min_score
        boxes, scores = boxes[keep], scores[keep]
        if len(boxes) == 0:
            return []
        x0 = (boxes[:, 0] - boxes[:, 2] / 2 - pad_x) / scale
        y0 = (boxes[:, 1] - boxes[:, 3] / 2 - pad_y) / scale
        x1 = (boxes[:, 0] + boxes[:, 2] / 2 - pad_x) / scale
        y1 = (boxes[:, 1] + boxes[:, 3] / 2 - pad_y) / scale
        x0, x1 = np.clip(x0, 0, w), np.clip(x1, 0, w)
        y0, y1 = np.clip(y0, 0, h), np.clip(y1, 0, h)
        rects = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).tolist()
        kept = cv2.dnn.NMSBoxes(rects, scores.tolist(), self.min_score, _NMS_IOU)
        min_height = self.min_height_fraction * h
        return [
            Candidate(float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i]), float(scores[i]))
            for i in np.asarray(kept, dtype=int).ravel()
            if y1[i] - y0[i] >= min_height
        ]

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        """(1, 3, H, W) float32 model input, the scale applied, and the (x, y) padding."""
        width, height = self.input_size
        h, w = image.shape[:2]
        scale = min(width / w, height / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.full((height, width, 3), _PAD_GREY, np.uint8)
        pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
        batch = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return batch, scale, (float(pad_x), float(pad_y))

    def _decode(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (M, 4) and person scores (M,) from the model's first output."""
        expected = "(1, 4 + C, N)" if self.layout == "yolov8" else "(1, N, 5 + C)"
        first_score = 4 if self.layout == "yolov8" else 5
        if output.ndim != 3 or output.shape[0] != 1:
            raise DetectorModelError(self.path, f"output shape {output.shape} is not {expected} ({self.layout})")
        rows = output[0].T if self.layout == "yolov8" else output[0]  # (N, 4 + C) or (N, 5 + C)
        if rows.shape[1] <= first_score + self.person_class:
            raise DetectorModelError(
                self.path,
                f"output shape {output.shape} has no score for class {self.person_class} in layout "
                f"{self.layout} {expected}",
            )
        scores = rows[:, first_score + self.person_class]
        if self.layout == "yolov5":
            scores = scores * rows[:, 4]
        return rows[:, :4], scores
