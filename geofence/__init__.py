"""Pure geometry of the defence system: the four-level grid, cell lookup, sites. No I/O."""
