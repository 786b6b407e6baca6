"""facereel.inversion"""
