"""What ``--teacher`` names, as one string that travels to workers: ``kind:PATH?k=v&k=v``
with ``--teacher-input`` and ``--trust-type`` folded in (:func:`teacher_spec`), and read
back (:func:`parse_teacher_spec`).
"""

from __future__ import annotations

from pathlib import Path

from autodistill.errors import TeacherError

__all__ = ["parse_teacher_spec", "teacher_spec"]


def teacher_spec(teacher: str, teacher_input: str | None = None,
                 trust_types: list[str] | None = None) -> str:
    """The teacher spec with ``--teacher-input`` and ``--trust-type`` folded in
    (``sklearn:m.skops?input=raw&trust=a.B``), so it travels to workers as one string."""
    options = []
    if teacher_input:
        options.append(f"input={teacher_input}")
    if trust_types:
        options.append("trust=" + ",".join(trust_types))
    if not options:
        return teacher
    if teacher.strip().lower() == "auto":
        raise TeacherError("--teacher-input and --trust-type apply to your own teacher "
                           "(a .pt, sklearn: or onnx: file), not to 'auto'")
    if trust_types and not teacher.strip().lower().startswith("sklearn:"):
        raise TeacherError(f"--trust-type applies to a skops file (--teacher sklearn:PATH), not "
                           f"to '{teacher}'")
    return teacher + ("&" if "?" in teacher else "?") + "&".join(options)


def parse_teacher_spec(spec: str) -> tuple[str, Path, dict[str, str]]:
    """``kind:PATH?k=v&k=v`` -> (kind, path, options). Options: ``input`` (raw|encoded) and
    ``trust`` (comma-separated type names, sklearn only)."""
    kind, _, rest = str(spec).strip().partition(":")
    path_text, _, query = rest.partition("?")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key not in ("input", "trust"):
            raise TeacherError(f"--teacher '{spec}': unknown option '{key}'; use input=raw|encoded "
                               "or trust=TYPE[,TYPE]")
        options[key] = value
    if options.get("input", "raw") not in ("raw", "encoded"):
        raise TeacherError(f"--teacher-input '{options['input']}': use raw or encoded")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise TeacherError(f"--teacher '{spec}': no such file '{path_text}'")
    return kind.lower(), path, options
