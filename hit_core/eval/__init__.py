"""Evaluation: benchmark runner, protocol-exact metrics, reports and plots, submission packaging."""
