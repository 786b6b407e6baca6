"""facereel.checkpoints"""
