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

Spotting's long videos (not read by the data stage):

- long_video.py    the LongVideo and Interval records, frame numbers turned into positions
- casme_sq.py, samm_lv.py   one adapter per long-video corpus, its format and quirks on top
- spotting_corpora.py       read_long_videos(source, root, annotations): the one entry point
"""
