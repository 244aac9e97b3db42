"""Corpus adapters and the data stage: annotation sheets and folders in, the clip manifest out.

Where things are (the manifest's schema itself is mer.core.manifest):

- build.py         the data stage: adapter -> label scheme -> frame checks -> manifest, report
- casme2.py, samm.py, smic.py, flow_image_corpus.py   one adapter per corpus, its quirks
                   listed on top and where each is handled
- coding.py        the FACS coding-sheet reader CASME II and SAMM share
- sheets.py        xlsx/csv tables: header row search, spreadsheet row numbers
- cells.py, aus.py frame numbers, subject ids, AU codes: one reading for every corpus
- repairs.py       a clip's frames checked on disk, and the sheet values the disk proves wrong
- clips.py         the Clip record, manifest flags, duplicate check
- labelling.py     the label scheme applied, MEGC2019's protocol exclusions
"""
