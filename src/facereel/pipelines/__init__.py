"""facereel.pipelines"""
