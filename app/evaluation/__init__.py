"""Evaluation runners behind `coach eval`: datasets in evals/, results committed in evals/results/."""
