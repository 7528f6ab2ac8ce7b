"""Data sources, records, preprocessing, augmentation and pool state."""

from lesionlab.data.records import LabeledDataset, Record

__all__ = ["LabeledDataset", "Record"]
