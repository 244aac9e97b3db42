"""Motion features: optical flow onset -> apex -> offset, optical strain, AU-region features.

``mer.features.extract.describe_clip`` is the shared entry point (features stage, ``mer predict``).
"""
