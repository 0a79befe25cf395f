"""The training engine: data pipeline, schedules, checkpoints, run folders, the loop, evaluation."""
