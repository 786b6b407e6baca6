"""facereel.web"""
