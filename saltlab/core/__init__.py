"""The data core: definitions, decoding, sources, loading and its cache, health, folds, the demo set,
the metric, RLE, scoring and file I/O. Imports nothing else from saltlab (the lowest layer)."""
