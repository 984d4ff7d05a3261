"""Image classifiers as tf.keras functional models (NHWC), with torchvision's
architectures and parameter names. See docs/models.md."""

from graphc.models.vision.lenet import lenet  # noqa: F401
from graphc.models.vision.mobilenet import mobilenet_v2  # noqa: F401
from graphc.models.vision.resnet import resnet18, resnet34, resnet50  # noqa: F401
from graphc.models.vision.vgg import vgg11, vgg11_bn, vgg16, vgg16_bn  # noqa: F401
