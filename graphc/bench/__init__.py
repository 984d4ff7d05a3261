"""graphc bench."""
