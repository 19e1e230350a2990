"""StyleGAN (Karras et al. 2019, config F) in Keras 3: a port of NVlabs/stylegan for training and serving."""
