"""Backbones by name (offline EfficientNet-Lite0, torchvision ResNets, any timm model) and classifiers."""

from lesionlab.models.classifier import ClassifierOutput, LesionClassifier
from lesionlab.models.registry import available_backbones, create_classifier

__all__ = ["ClassifierOutput", "LesionClassifier", "available_backbones", "create_classifier"]
