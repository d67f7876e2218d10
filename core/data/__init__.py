"""Datasets: sources behind one interface (core.data.load.load_dataset), one module per source."""
