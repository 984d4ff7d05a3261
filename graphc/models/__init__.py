"""Ready-made models built from graphc's Keras layers, and loading their weights from
safetensors files (torchvision's names or graphc's). See docs/models.md."""

from graphc.models import text  # noqa: F401  (language models: docs/text-models.md)
from graphc.models.vision import (  # noqa: F401
    lenet,
    mobilenet_v2,
    resnet18,
    resnet34,
    resnet50,
    vgg11,
    vgg11_bn,
    vgg16,
    vgg16_bn,
)
from graphc.models.weights import expected_weights, load_weights, save_weights  # noqa: F401
