# Config values -> step flags, spelt one way for every rule: `--some-key value` (shell-quoted),
# a list as several values, true/false as --key/--no-key, null left out.
import shlex


def cli_flags(values):
    """The flags of a mapping of settings (keys as the steps' parameters name them)."""
    parts = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, (list, tuple)):
            parts.append(" ".join([flag, *(shlex.quote(str(v)) for v in value)]))
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def section_flags(name, wildcards, leave_out=()):
    """Every key of stage section `name` of the job's run (`run_section`) as step flags;
    `leave_out`: keys a rule passes otherwise (threads, resources)."""
    settings = run_section(name, wildcards)
    return cli_flags({k: v for k, v in settings.items() if k not in leave_out})
