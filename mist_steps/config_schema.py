"""Config validation with messages a person can act on.

Snakemake's ``validate`` checks the config against the JSON schema, but its message dumps the
whole sub-schema. We keep Snakemake's check and replace its message by one line per problem
that names the key and what was expected (and the closest valid key for a typo).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """The configuration does not match the schema."""


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        lines = []
        for extra in sorted(set(err.instance) - set(allowed)):
            where = f"{key}.{extra}" if err.absolute_path else extra
            hint = difflib.get_close_matches(extra, allowed, n=1)
            did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
            lines.append(f"{where}: unknown key{did_you_mean}; allowed keys here: {', '.join(allowed)}")
        return "\n".join(lines)
    if err.validator == "type":
        return f"{key}: expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}"
    if err.validator == "not" and err.validator_value == {}:
        return f"{key}: not allowed for this dataset format"
    description = err.schema.get("description")
    return f"{key}: {err.message}" + (f" ({description})" if description else "")


def problems(config: dict, schema: dict) -> list[str]:
    """All schema violations of ``config``, one readable line each (empty when valid)."""
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    found = [_describe(e) for e in errors]
    synth = config.get("synth")
    if isinstance(synth, dict):
        renders = [("synth", synth)]
        datasets = config.get("datasets")
        for name, entry in (datasets.items() if isinstance(datasets, dict) else ()):
            if isinstance(entry, dict) and isinstance(entry.get("render"), dict):
                renders.append((f"datasets.{name}.render", {**synth, **entry["render"]}))
        for where, r in renders:
            lo, hi = r.get("min_frames"), r.get("max_frames")
            if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
                found.append(f"{where}: min_frames {lo} is larger than max_frames {hi}")
    return found


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Validate with Snakemake's ``validate``; on failure raise :class:`ConfigError` listing each problem."""
    from snakemake.utils import (
        validate,  # imported here: the step modules don't need snakemake
    )

    schema = yaml.safe_load(Path(schema_path).read_text())
    found = problems(config, schema)
    if not found:
        try:
            validate(config, str(schema_path))
            return
        except Exception as err:  # a check our explanation missed: keep Snakemake's own words
            found = [str(err)]
    raise ConfigError(
        "invalid configuration (config.yaml plus any --configfile/--config):\n  - "
        + "\n  - ".join(found)
        + f"\nThe schema is {schema_path}."
    )
