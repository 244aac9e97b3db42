"""Corpus adapters, the embedded synthetic dataset, and the clip manifest they all produce.

Where things are:

- manifest.py      the manifest's columns (the only thing later stages read about a dataset)
- build.py         the data stage: adapter -> label scheme -> frame checks -> manifest, report
- casme2.py, samm.py, smic.py, flow_images.py   one adapter per corpus, its quirks listed on top
- coding.py        the FACS coding-sheet reader CASME II and SAMM share
- sheets.py        xlsx/csv tables: header row search, spreadsheet row numbers
- cells.py, aus.py frame numbers, subject ids, AU codes: one reading for every corpus
- frames.py        a clip's frames on disk: listing, checks, the offset-typo repair
- clips.py         the Clip record, manifest flags, label-scheme filtering
- synthetic*.py    the embedded CASME II-format dataset generator
"""
