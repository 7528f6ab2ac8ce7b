"""Simulated-oracle active-learning experiments: rounds of train, evaluate, select, buy labels."""

from lesionlab.runner.experiment import run_experiment

__all__ = ["run_experiment"]
