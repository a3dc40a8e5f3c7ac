import torch

from src.models.strided_cnn import StridedCNN


def test_default_width_has_the_documented_parameter_count():
    assert sum(p.numel() for p in StridedCNN().parameters()) == 326_410


def test_width_scales_the_channels_and_keeps_the_output():
    wide, narrow = StridedCNN(width=48).eval(), StridedCNN(width=16).eval()
    assert wide[0].out_channels == 48 and narrow[0].out_channels == 16
    assert wide(torch.rand(3, 1, 28, 28)).shape == narrow(torch.rand(3, 1, 28, 28)).shape == (3, 10)
