"""Evaluation of results files against public benchmarks' ground truth."""
