"""The five drum stems every separator in the service produces, in their fixed order."""

STEMS: tuple[str, ...] = ("kick", "snare", "toms", "hihat", "cymbals")
