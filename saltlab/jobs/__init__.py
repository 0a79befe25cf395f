"""Background work: the training queue (submit, resume, cancel, the next run when a device is free)
and predict jobs. Imports the layers below: core, models, runs, inference, training."""
