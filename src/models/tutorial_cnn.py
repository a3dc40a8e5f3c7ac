"""The Keras tutorial's CNN, layer for layer, as a plain ``nn.Module``."""

from __future__ import annotations

from torch import nn


class TutorialCNN(nn.Sequential):
    """Layers only: 1xHxW images in [0, 1] -> ``num_classes`` logits. Loss, metrics and training live elsewhere.

    Conv(64)-BN-ReLU-Pool, Conv(128)-BN-ReLU-Pool, Conv(192)-ReLU-Pool, Flatten, Dense(256)-BN-ReLU-Dropout,
    Dense(num_classes): 741,962 trainable parameters on 28x28 digits, as in the tutorial's summary. Keras'
    BatchNormalization defaults (momentum 0.99, eps 1e-3) are kept so it trains alike.
    """

    def __init__(self, dropout: float = 0.3, num_classes: int = 10, image_size: tuple[int, int] = (28, 28)):
        height, width = (side // 8 for side in image_size)  # three 2x2 poolings
        super().__init__(
            *conv_block(1, 64, batch_norm=True),
            *conv_block(64, 128, batch_norm=True),
            *conv_block(128, 192, batch_norm=False),
            nn.Flatten(),
            nn.Linear(192 * height * width, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.momentum, module.eps = 0.01, 1e-3  # torch's momentum is 1 - Keras' momentum


def conv_block(in_channels: int, out_channels: int, batch_norm: bool) -> list[nn.Module]:
    """Conv(3x3, same) [-BatchNorm] -ReLU -MaxPool(2): one stage of the tutorial's network."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding="same")]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return [*layers, nn.ReLU(inplace=True), nn.MaxPool2d(2)]
