"""facereel.latent"""
