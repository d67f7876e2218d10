"""The analysis stages, one module each, in pipeline order (core.pipeline.registry lists them)."""
