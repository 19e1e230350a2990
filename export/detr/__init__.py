"""DETR (Carion et al., 2020) in Keras 3: a weight-for-weight port of facebookresearch/detr."""
