"""The bulk engine: many records, a fixed pool of workers, one report.

`engine` runs the workers; `intake` validates, de-duplicates and resumes the
input; `selection` streams the ids a COQL condition selects; `journal` keeps
each outcome for resume; `report` is what the caller gets back.
"""
