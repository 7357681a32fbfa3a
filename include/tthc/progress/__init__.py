"""Digitization progress: snapshots against the plans' stepped targets, work queues,
reports for officials and the inputs of the other plan indicators. See docs/progress.md."""
