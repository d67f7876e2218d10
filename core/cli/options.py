"""Command-line options made from the config's fields: each field's type, default and help text are
written once, in core.config, and read here.

`config_options()` lists one `ConfigOption` per field of `RunConfig`, naming only the flag
where it differs from the field name (`--gradient-mode` for `gradients.mode`, `--detector`
for the repeatable `detect.detectors`). `config_command(options)` turns a command
`fn(config: RunConfig, **other_options)` into a typer command with those options in its
signature and builds the `RunConfig` (validated there) from what was given.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from core.config import SECTIONS, RunConfig

FLAGS: dict[str, str] = {
    "train.model": "--model",
    "gradients.mode": "--gradient-mode",
    "gradients.include_bias": "--include-bias/--weight-only",
    "train.pretrained": "--pretrained/--no-pretrained",
    "detect.detectors": "--detector",
    "baselines.enabled": "--baselines/--no-baselines",
    "baselines.influence": "--influence",
    "baselines.label_quality": "--label-quality",
    "baselines.folds": "--baseline-folds",
    "embed.method": "--embed",
    "embed.n_neighbors": "--umap-neighbors",
    "embed.min_dist": "--umap-min-dist",
    "embed.max_width": "--embed-max-width",
    "retrain.mode": "--retrain-mode",
    "retrain.seeds": "--retrain-seeds",
    "train.refit": "--refit/--no-refit",
}
"""Flags that differ from `--<field-name>`; a bool field is a `--x/--no-x` pair."""
SHORT: dict[str, str] = {"data.dataset": "-d"}


@dataclass(frozen=True)
class ConfigOption:
    """One config field as a command-line option."""

    path: str
    """"section.field", or "seed"."""
    annotation: Any
    default: Any
    help: str

    @property
    def param(self) -> str:
        """The Python parameter name: the path with dots as underscores."""
        return self.path.replace(".", "_")

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.annotation) is tuple

    def parameter(self) -> inspect.Parameter:
        field_name = self.path.rsplit(".", 1)[-1]
        flag = FLAGS.get(self.path, f"--{field_name.replace('_', '-')}")
        if self.annotation is bool and "/" not in flag:
            flag = f"{flag}/--no-{flag[2:]}"
        decls = [flag] + ([SHORT[self.path]] if self.path in SHORT else [])
        panel = f"{self.path.split('.')[0]} options" if "." in self.path else None
        if self.is_list:
            option = typer.Option(*decls, help=f"{self.help} Repeat the option. Default: {', '.join(self.default)}.",
                                  rich_help_panel=panel)
            annotation, default = Optional[list[str]], None
        else:
            option = typer.Option(*decls, help=self.help, rich_help_panel=panel)
            annotation, default = self.annotation, self.default
        return inspect.Parameter(self.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                                 annotation=Annotated[annotation, option])


def config_options(skip: Sequence[str] = ()) -> list[ConfigOption]:
    """Every field of every config section (and the seed), in config order, except the paths in `skip`."""
    options = []
    for section_name, section in SECTIONS.items():
        hints = typing.get_type_hints(section)
        for f in dataclasses.fields(section):
            path = f"{section_name}.{f.name}"
            if path not in skip:
                options.append(ConfigOption(path, _cli_type(hints[f.name]), f.default, f.metadata["help"]))
    seed = next(f for f in dataclasses.fields(RunConfig) if f.name == "seed")
    options.append(ConfigOption("seed", int, seed.default, seed.metadata["help"]))
    return options


def _cli_type(hint: Any) -> Any:
    """The config field's type as typer takes it: `X | None` → Optional[X]."""
    args = typing.get_args(hint)
    if type(None) in args and len(args) == 2:
        return Optional[next(a for a in args if a is not type(None))]
    return hint


def build_config(options: Sequence[ConfigOption], values: dict[str, Any]) -> RunConfig:
    """The RunConfig of the given option values (a repeatable option left out keeps the config default)."""
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    seed = 0
    for option in options:
        value = values[option.param]
        if option.is_list:
            value = option.default if value is None else tuple(value)
        if option.path == "seed":
            seed = value
            continue
        section, field_name = option.path.split(".")
        sections[section][field_name] = value
    return RunConfig(**{name: SECTIONS[name](**fields) for name, fields in sections.items()}, seed=seed)


def section_options(section: type) -> list[ConfigOption]:
    """One option `--<field>` per field of a single settings dataclass (RerankConfig, ConflictConfig)."""
    hints = typing.get_type_hints(section)
    return [ConfigOption(f.name, _cli_type(hints[f.name]), f.default, f.metadata["help"])
            for f in dataclasses.fields(section)]


def section_command(section: type):
    """`config_command` for a single settings dataclass: `fn(config: section, **others)`."""
    options = section_options(section)
    return config_command(options, build=lambda values: section(**{o.param: values[o.param] for o in options}))


def config_command(options: Sequence[ConfigOption], adjust: Callable[[dict[str, Any]], None] | None = None,
                   build: Callable[[dict[str, Any]], Any] | None = None):
    """Decorate `fn(config, **others)`: its signature gains the config options; calls get the built config.

    adjust(values): a hook to derive values before the config is built (e.g. `--budget auto`). build(values): the config from the values
    (default: the RunConfig, `build_config`).
    """
    build = build or (lambda values: build_config(options, values))
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        others = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "config"]
        others = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in others]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            values = {option.param: kwargs.pop(option.param) for option in options}
            if adjust is not None:
                adjust(values)
            return fn(config=build(values), **kwargs)

        command.__signature__ = inspect.Signature([option.parameter() for option in options] + others)
        return command

    return decorate
