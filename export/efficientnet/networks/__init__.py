"""The EfficientNet network and its compound scaling."""
