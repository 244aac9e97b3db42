"""Faces: dlib detection, 68 landmarks, and one similarity alignment per clip.

``mer.faces.align.align_clip`` is the shared entry point (features stage, ``mer predict``).
"""
