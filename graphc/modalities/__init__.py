"""Modalities: images, audio, video and text as tensors (docs/dtypes.md for the narrow
integer dtypes images and audio are stored in). `tf.image` is graphc.modalities.image."""
