"""What travels over the wire, sans I/O: requests built, answers read, nothing sent.

`protocol` (the Record Locking Information API), `coql` (the Query API),
`limits` (what answers say of the org's limits, and which failures end a run),
`converter` (the one cattrs converter), `datacentres` (Zoho's data centres).
"""
