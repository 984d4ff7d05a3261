"""Write tests/models/data/torchvision_keys.json: the state-dict names and shapes of
torchvision's models, so tests without torch check graphc's name mapping against them.

    .venv/bin/python tests/models/make_torchvision_keys.py

Run it again when a model is added (it needs torch and torchvision; the models are built
on the meta device, so no weights are allocated).
"""

from __future__ import annotations

import json
from pathlib import Path

from vision_checks import import_torchvision

MODELS = ("resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn",
          "mobilenet_v2")
OUT = Path(__file__).resolve().parent / "data" / "torchvision_keys.json"


def describe(torch, torchvision, name: str) -> dict:
    with torch.device("meta"):
        model = getattr(torchvision.models, name)()
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()}}


def dump(table: dict) -> str:
    """JSON with one state-dict entry per line, so a diff shows what changed."""
    models = []
    for name, info in table["models"].items():
        rows = ",\n".join(f"   {json.dumps(k)}: {json.dumps(v)}"
                          for k, v in info["state_dict"].items())
        models.append(f'  {json.dumps(name)}: {{"parameters": {info["parameters"]}, '
                      f'"state_dict": {{\n{rows}\n  }}}}')
    return (f'{{"torch": {json.dumps(table["torch"])}, '
            f'"torchvision": {json.dumps(table["torchvision"])},\n'
            f' "models": {{\n' + ",\n".join(models) + "\n }\n}\n")


def main() -> None:
    torchvision = import_torchvision()
    import torch
    table = {"torch": torch.__version__, "torchvision": torchvision.__version__,
             "models": {name: describe(torch, torchvision, name) for name in MODELS}}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(dump(table))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
