"""The send path: which local day a run is for, the delivery ledger, message composition and
one slot's run. Pure logic (`local_day`, `message`) in the middle; the database and the
transport at the edges (`ledger`, `slot_run`)."""
