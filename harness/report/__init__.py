"""From records to leaderboards: tables in the layout of the UNIC paper's Tables 1, 2 and 7."""
