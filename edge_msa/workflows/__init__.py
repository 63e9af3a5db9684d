"""Workflows: what composes the layers below into one job a command runs.

Exporting a run into a verified bundle (`export_run`: export, then parity through a runtime backend),
a training recipe's bundles (`recipe_bundles`), labelled media into a live-spec dataset through the
runtime's own perception (`extract_media`, `extract_dataset`), scoring an archive (`score_archive`),
and the per-file job runner they share (`jobs`: processes or Ray). Nothing below imports from here.
"""
