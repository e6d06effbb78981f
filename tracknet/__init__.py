"""TrackNet ball tracking: model, heatmaps, video I/O, labels, metrics, synthetic clips.

Pure Python + torch/numpy/cv2/av. Nothing in this package imports Ray or talks to S3.
"""

__version__ = "0.1.0"
