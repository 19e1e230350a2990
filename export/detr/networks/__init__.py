"""The DETR network, one concept a file: backbone, position encoding, transformer, heads, box geometry."""
