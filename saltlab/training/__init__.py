"""The training engine: LR schedules, the data pipelines, the loop with its checkpoints, budget, SWA
and DDP. Imports the layers below: core, models, runs, inference."""
