"""Pool scoring at scale: images decoded in parallel with the model's compute, batch by batch, with torch
or ONNX Runtime, into memory-mapped arrays (`lesionlab score`, `benchmarks/scale.py`)."""

from lesionlab.scoring.backends import OnnxScorer, Scorer, TorchScorer, make_scorer
from lesionlab.scoring.pool import PoolScores, score_images
from lesionlab.scoring.stream import decoded_batches

__all__ = [
    "OnnxScorer",
    "PoolScores",
    "Scorer",
    "TorchScorer",
    "decoded_batches",
    "make_scorer",
    "score_images",
]
