"""Settings: config dataclass fields that also define their command-line flags.

Every setting of a run is stated once, as a field of a config dataclass:

    @dataclasses.dataclass(kw_only=True)
    class TrainSettings:
      train_batch_size: int = setting(32, "Total batch size for training.")

The field carries its flag's help text (and, where needed, choices, aliases
and whether the flag is required) in its metadata. `bert_tf.flags` defines a
script's absl flags from its config class and builds the config back from
them, so a script has exactly the flags of the settings its run reads (see
`flag_fields`), with the same names, types and defaults.

A field whose metadata says `flag=False` is for library callers only (for
example a processor's keyword arguments computed from other settings).

This module never reads absl FLAGS.
"""

import dataclasses
import typing

_NO_DEFAULT = dataclasses.MISSING


def setting(default=None, help_text="", *, choices=None, aliases=(),
            required=False, flag=True, default_factory=_NO_DEFAULT):
  """A dataclass field that is also a command-line flag.

  Args:
    default: the default value (also the flag's default).
    help_text: the flag's help.
    choices: optional list of allowed string values (an enum flag).
    aliases: other flag names for the same setting (e.g. "amp").
    required: the script requires the flag (the dataclass still defaults to
      `default`, so library callers see a clear error from the driver).
    flag: False for settings that only library callers set.
    default_factory: for mutable defaults (lists, dicts).

  Returns:
    A `dataclasses.Field`.
  """
  metadata = {"help": help_text, "choices": choices,
              "aliases": tuple(aliases), "required": required, "flag": flag}
  if default_factory is not _NO_DEFAULT:
    return dataclasses.field(default_factory=default_factory,
                             metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


def field_type(config_class, name):
  """The Python type of field `name` (Optional[X] -> X; List[X] -> list)."""
  hint = typing.get_type_hints(config_class)[name]
  if typing.get_origin(hint) is typing.Union:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    hint = args[0]
  origin = typing.get_origin(hint)
  return origin if origin is not None else hint


def flag_fields(config_class):
  """The fields of `config_class` that are flags, in definition order."""
  return [f for f in dataclasses.fields(config_class)
          if f.metadata.get("flag", True)]


def help_of(field):
  return field.metadata.get("help") or field.name


def defaults(config_class):
  """dict name -> default of every field that has one."""
  out = {}
  for f in dataclasses.fields(config_class):
    if f.default is not _NO_DEFAULT:
      out[f.name] = f.default
    elif f.default_factory is not _NO_DEFAULT:
      out[f.name] = f.default_factory()
  return out


def coerce(name, value, kind):
  """`value` (flag text or a parsed value) as type `kind` of setting `name`.

  Raises:
    ValueError: naming the setting, for a value that is not of that type.
  """
  if value is None:
    return None
  try:
    if kind is bool:
      if isinstance(value, bool):
        return value
      text = str(value).strip().lower()
      if text in ("true", "1", "yes", "t", "y"):
        return True
      if text in ("false", "0", "no", "f", "n"):
        return False
      raise ValueError(value)
    if kind is int:
      if isinstance(value, bool):
        raise ValueError(value)
      if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
      return int(float(value)) if isinstance(value, str) else int(value)
    if kind is float:
      return float(value)
    if kind is str:
      text = str(value)
      return None if text in ("", "None") else text
    if kind is list:
      if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
      return list(value)
  except ValueError:
    raise ValueError("--%s=%s is not a valid %s" % (name, value,
                                                    kind.__name__)) from None
  return value


def from_strings(config_class, values, **fixed):
  """A `config_class` from flag-syntax values ({name: text}).

  Args:
    config_class: a settings dataclass.
    values: dict flag name (or alias) -> value text or typed value.
    **fixed: typed values that override `values`.

  Raises:
    ValueError: for a name that is not a flag of `config_class` (naming it)
      or a value of the wrong type.
  """
  names = {}
  for f in flag_fields(config_class):
    names[f.name] = f.name
    for alias in f.metadata.get("aliases", ()):
      names[alias] = f.name
  kwargs = {}
  for name, value in values.items():
    if name not in names:
      raise ValueError("--%s is not a setting of %s" %
                       (name, config_class.__name__))
    target = names[name]
    kwargs[target] = coerce(name, value, field_type(config_class, target))
  kwargs.update(fixed)
  return config_class(**kwargs)
