"""Datasets: the offline-built ones, any prepared TFDS image dataset, and batch pipelines."""
from jaxgan.data.images import DatasetInfo, ImageDataset, load_dataset  # noqa: F401
