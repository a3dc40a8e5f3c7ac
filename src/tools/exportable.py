"""The graph that is exported: uint8 digits in, class probabilities out, TTA and ensemble averaging inside.

Contract of every exported file (ONNX and ``torch.export``), the same as ``TorchPredictor``'s call:

    input   ``images``         uint8   [N, 1, H, W]   0 = background .. 255 = ink (MNIST/CSV pixel values)
    output  ``probabilities``  float32 [N, C]         each row sums to 1

``H, W`` and ``C`` are the image size and class count the checkpoint records (28x28 and 10 for MNIST).

uint8 rather than float in [0, 1]: a caller cannot feed pixels on the wrong scale (0..255 floats, or [0, 1] floats
divided again) and get confident nonsense back; a runtime refuses a float input outright.
"""

from __future__ import annotations

import torch
from torch import nn

from src.models.tta import ShiftAveraged
from src.tools.digits import MNIST_SIZE


class ExportableDigitModel(nn.Module):
    """Owns a trained network (a single one, or an ``Ensemble`` whose members it averages) and its test-time
    shifts (``ShiftAveraged``, as ``predict`` uses them); maps uint8 images to float32 probabilities in one traceable
    ``forward``. It owns no loading, no files and no precision choice (autocast or compilation wrap it from outside).

    Args:
        network: Images ``[B, 1, H, W]`` in [0, 1] -> ``[B, C]`` logits (an ``Ensemble`` returns
            log mean probabilities, which softmax turns back into the mean).
        tta_shift: Average the plain image with its 4 copies moved this many pixels (0 = no TTA).
        channels_last: Run the network channels_last (weights and images), as ``DigitClassifier`` does; off for
            export, where the layout is the runtime's choice.
        image_size: ``(H, W)`` the network was trained on (the TTA shifts are in its pixels).
    """

    def __init__(
        self,
        network: nn.Module,
        tta_shift: float = 0.0,
        channels_last: bool = True,
        image_size: tuple[int, int] = MNIST_SIZE,
    ):
        super().__init__()
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.network = network.to(memory_format=memory_format).eval()
        self.channels_last = channels_last
        self.image_size = tuple(image_size)
        self.averaged = ShiftAveraged(self.logits, tta_shift, self.image_size)
        self.tta_shift = self.averaged.shift
        self.eval()  # nothing here trains; export warns about modules left in training mode

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.network(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.averaged(images.float() / 255)


def example_images(image_size: tuple[int, int] = MNIST_SIZE, batch: int = 2) -> torch.Tensor:
    """A uint8 batch of the exported input's shape, for tracing (2 rows: export must not specialise on 1)."""
    return torch.zeros(batch, 1, *image_size, dtype=torch.uint8)
