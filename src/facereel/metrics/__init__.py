"""facereel.metrics"""
