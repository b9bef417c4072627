"""Look-ups in the plain-dict registries, with errors that list the valid names."""


def lookup(registry: dict, name: str, what: str):
    """registry[name]; an unknown name raises ValueError naming `what` and listing the valid keys."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(registry))
        raise ValueError(f"unknown {what} {name!r}; valid names: {valid}") from None
