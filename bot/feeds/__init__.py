"""Feed polling: fetch (the only module doing feed HTTP), parse, normalise, schedule."""
