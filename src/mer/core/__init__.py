"""The ground floor: what stages hand each other, read and written by one piece of code each.

Every stage and ``mer predict`` read their inputs through these modules, and nothing here
imports from the stages' packages above it:

- manifest.py    the clip manifest's schema (data/manifest.parquet), its writer and reader
- frames.py      frame files: listing and numbering, the apex rule and its NO_FRAME, decoding
- flow_image.py  a precomputed flow image: channel orders, reader, optical strain
- npz.py         byte-reproducible .npz files; data/faces.npz and data/features.npz
- clipset.py     ClipSet: features joined with labels, as every model sees them
- workers.py     mapping a per-clip function over worker processes
"""
