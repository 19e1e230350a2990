"""The StyleGAN networks: equalized-lr layers, mapping, synthesis, generator, discriminator."""
