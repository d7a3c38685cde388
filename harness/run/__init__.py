"""One run, top to bottom: spec -> dataset -> features -> method -> metrics -> record.

``spec`` (what to run), ``protocol`` (the walk itself), ``features`` (the feature cache),
``gcd_split`` (the labelled subset), ``metrics``, ``records`` (JSON + assignments), plus the seeding and
device helpers the protocol calls.
"""
