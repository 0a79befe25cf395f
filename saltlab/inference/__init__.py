"""Using trained models: the network on batches (padding, TTA), predict, evaluate and pseudo-labels.
Imports only the layers below: core, models, runs."""
