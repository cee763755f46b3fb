"""Writes torchvision's ResNet state-dict keys and shapes, one per line:
`ARCH NAME SHAPE` (shape as AxBxC, empty for scalars). Run once with torchvision
installed; the output is committed as crates/occlude/src/models/torchvision_resnet_keys.txt
and occlude's export is tested against it.

    python3 bench/torchvision_keys.py > crates/occlude/src/models/torchvision_resnet_keys.txt
"""
import torchvision

for arch in ["resnet18", "resnet34", "resnet50", "resnet101"]:
    model = getattr(torchvision.models, arch)(weights=None)
    for name, t in model.state_dict().items():
        print(arch, name, "x".join(str(d) for d in t.shape))
