"""Small pieces every room may use: the error base, atomic writes, device choice, progress type.

``facereel.core`` imports nothing else of facereel, so any package may import it.
"""
