"""Network architectures only (official parameter names): StyleGAN2, StyleGAN3, rosinality, encoders, DCGAN."""
