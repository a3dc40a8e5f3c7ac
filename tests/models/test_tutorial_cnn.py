from src.models.tutorial_cnn import TutorialCNN


def test_parameter_count_matches_the_seed_keras_summary():
    # Keras prints 742,858 total because it also counts the 896 BatchNorm running statistics.
    network = TutorialCNN()
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    running_stats = sum(b.numel() for name, b in network.named_buffers() if "running" in name)
    assert trainable == 741_962
    assert trainable + running_stats == 742_858
