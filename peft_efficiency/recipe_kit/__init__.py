"""Shared plumbing of the recipes under `recipes/`: settings, command line, models, smoke mode, task helpers."""
