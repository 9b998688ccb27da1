"""Using a trained model: load it with the text cleaning it was trained with, classify texts, read and write files."""

from inference.classifier import TextClassifier

__all__ = ["TextClassifier"]
