"""Data files shipped with the package: the default objection taxonomy and the consent notice."""
