"""A run as stored: its config (presets, validation), checkpoints, the run folder and the registry of runs.
Imports only saltlab.core and saltlab.models."""
