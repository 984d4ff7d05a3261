"""Checkpoints and saved models: graphc's own format (safetensors) and TensorFlow 1's."""
