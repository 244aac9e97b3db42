"""The embedded synthetic corpora `mer synthesize` writes, in the real corpora's formats.

- write_casme2.py  the CASME II-format corpus, and the clip plan the other formats share
- write_samm.py    the SAMM-format corpus (greyscale, 5-digit frames, notes above the header)
- write_smic.py    the SMIC-HS-format corpus (colour bmp in emotion folders, no apex)
- face.py          rendering a face's frames: a real portrait warped by AU displacements
"""
