"""One option table drives every command: each command accepts exactly the
options the table gives it, in every spelling the old program and rnnpy's
earlier parsers took, and receives them as frozen, typed groups."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

import rnnpy
from rnnpy.cli import main
from rnnpy.cli.commands import COMMANDS, RLArgs, TasksArgs, TokenizerArgs, TrainArgs
from rnnpy.cli.options import GROUPS, OPTIONS, ModelOptions, Option, key, options_for
from rnnpy.cli.parser import build, help_text, parse, record
from rnnpy.errors import UsageError


def sample_text(o: Option) -> str:
    """A valid value, other than the default, as it would be typed."""
    d = o.default
    if isinstance(d, bool):
        return "false" if d else "true"
    if o.name == "bpeScheme":
        return "latin1"
    if o.name == "rlTask":
        return "reverse"
    if o.name == "format":
        return "SafeTensors"  # the one format, in another case
    if o.name == "seed":
        return "17"
    choices = {"batching": "stateful", "lrSchedule": "cosine", "evalEvery": "2epochs", "distributed": "off"}
    if o.name in choices:
        return choices[o.name]
    if isinstance(d, int):
        return str(d + 3)
    if isinstance(d, float):
        return "0.5"
    return "some-value.txt"


def spellings(name: str) -> list[str]:
    kebab = "".join("-" + c.lower() if c.isupper() else c for c in name)
    return [name, name.lower(), name.upper(), kebab, kebab.replace("-", "_")]


CASES = [(c, o) for c in COMMANDS for o in options_for(c)]


@pytest.mark.parametrize("command,o", CASES, ids=[f"{c}:{o.name}" for c, o in CASES])
def test_every_option_of_every_command_in_every_spelling(command, o):
    text = sample_text(o)
    want = o.value(text)
    mine = set(map(key, (o.name, *o.aliases)))
    spec = COMMANDS[command]
    required = [f"--{r}=x" for r in spec.required if key(r) not in mine]
    required += [f"--{group[0]}=x" for group in spec.one_of if not mine & set(map(key, group))]
    required += ["some-path"] * spec.nargs[0]  # info CHECKPOINT, plot METRICS.jsonl, ...
    for name in [s for n in (o.name, *o.aliases) for s in spellings(n)]:
        for argv in ([f"--{name}={text}"], [f"--{name}", text]):
            p = parse([*required, *argv], command)
            assert p.values[o.name] == want, (command, argv)
            assert o.name in p.given
    if o.is_bool:  # alone, a boolean means true
        assert parse([*required, f"--{o.name}"], command).values[o.name] is True


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_exactly_the_options_a_command_accepts(command):
    text = help_text(command)
    accepted = {o.name for o in options_for(command)}
    for o in OPTIONS:
        assert (f"--{o.name} " in text or f"--{o.name}," in text) is (o.name in accepted), (command, o.name)


@pytest.mark.parametrize("command", COMMANDS)
def test_options_of_other_commands_are_errors(command):
    others = [o for o in OPTIONS if command not in o.commands]
    for o in others:
        with pytest.raises(UsageError, match=f"unknown option --{o.name}"):
            parse([f"--{o.name}={sample_text(o)}"], command)


def test_no_two_options_of_a_command_share_a_spelling():
    for command in COMMANDS:
        seen: dict[str, str] = {}
        for o in options_for(command):
            for name in (o.name, *o.aliases):
                assert key(name) not in seen, (command, name, seen.get(key(name)))
                seen[key(name)] = o.name


def test_each_group_field_is_one_option_with_a_default_of_its_type():
    names = [o.name for o in OPTIONS]
    assert len(names) == len(set(names))
    for group in GROUPS:
        hints = typing.get_type_hints(group)
        fields = {f.name for f in dataclasses.fields(group)}
        assert fields == {o.field for o in OPTIONS if o.group is group}
        for o in (o for o in OPTIONS if o.group is group):
            assert isinstance(o.default, hints[o.field]), (group.__name__, o.field)
            assert group.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_model_options_are_model_configs_fields():
    params = list(inspect.signature(rnnpy.ModelConfig).parameters)
    assert params[0] == "vocab_size"
    assert sorted(params[1:]) == sorted(f.name for f in dataclasses.fields(ModelOptions))
    cfg = ModelOptions(hidden_size=16, num_heads=2).config(vocab_size=9)
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_heads, cfg.embed_size) == (9, 16, 2, 16)


def test_commands_get_frozen_typed_groups():
    args = build(TrainArgs, parse(["--hidden-size", "64", "--rlTask=reverse", "--quiet", "--seed=3"]))
    assert args.model.hidden_size == 64 and args.rl.task == "reverse" and args.run.quiet and args.run.fixed_seed() == 3
    assert args.given == {"hiddenSize", "rlTask", "quiet", "seed"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        args.model.hidden_size = 8  # type: ignore[misc]
    rl = build(RLArgs, parse(["--loadCheckpoint=m.bin", "--RL-KL=0.5"], "rl"))
    assert rl.rl.kl == 0.5 and rl.checkpoint.load_checkpoint == "m.bin"
    assert rl.run.seed == "0" and rl.checkpoint.save_path == ""  # rl's own defaults: seed 0, save over the input
    tasks = build(TasksArgs, parse(["--task=arithmetic", "--N=3"], "tasks"))
    assert (tasks.rl.task, tasks.tasks.n, tasks.run.fixed_seed()) == ("arithmetic", 3, 0)
    tok = build(TokenizerArgs, parse(["--vocab-size", "300", "--text=abc", "--scheme=latin1"], "tokenizer train"))
    assert (tok.bpe.vocab_size, tok.bpe.scheme, tok.files.text, tok.files.output) == (
        300,
        "latin1",
        "abc",
        "tokenizer.json",
    )
    dec = build(TokenizerArgs, parse(["--tokenizer", "t.json", "12", "-3", "--", "--7"], "tokenizer decode"))
    assert dec.bpe.load_path == "t.json" and dec.ids == ("12", "-3", "--7")


def test_the_one_name_of_the_tokenizer_vocabulary_size():
    for command, argv in (
        ("train", ["--bpeVocabSize=300"]),
        ("train", ["--vocab-size", "300"]),
        ("tokenizer train", ["--text=x", "--vocab-size", "300"]),
        ("tokenizer train", ["--text=x", "--bpeVocabSize=300"]),
    ):
        assert parse(argv, command).values["bpeVocabSize"] == 300


@pytest.mark.parametrize(
    "command,argv,message",
    [
        ("generate", [], "generate needs --loadCheckpoint=PATH"),
        ("rl", [], "rl needs --loadCheckpoint=PATH"),
        ("tokenizer encode", ["--text=x"], "tokenizer encode needs --tokenizer=FILE"),
        ("tokenizer train", [], "needs one of --input=FILE or --text=TEXT"),
        ("tokenizer train", ["--input=a", "--text=b"], "not both"),
        ("train", ["stray"], "unexpected argument 'stray'"),
        ("tasks", ["--n=0"], "option --n: must be at least 1, got '0'"),
        ("train", ["--hidden_size=x"], "option --hidden_size: expected an integer, got 'x'"),
    ],
)
def test_command_line_errors(command, argv, message):
    with pytest.raises(UsageError, match=message):
        parse(argv, command)


def test_checkpoints_record_every_option_of_train():
    args = build(TrainArgs, parse(["--trainingText=" + "x" * 300, "--seed=5"]))
    rec = record(args, "train")
    assert list(rec) == [o.name for o in options_for("train")]
    assert rec["trainingText"] == "(300 chars)" and rec["seed"] == "5" and rec["hiddenSize"] == 32


def test_help_of_every_command_and_group(capsys):
    for argv in (["--help"], ["tokenizer", "--help"], *([*c.split(), "--help"] for c in COMMANDS)):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: python -m rnnpy"), argv


@pytest.mark.parametrize("argv", [["--temperature=inf"], ["--learningRate=nan"], ["--seed=18446744073709551616"]])
def test_values_the_core_cannot_take_are_command_line_errors(argv):
    with pytest.raises(UsageError, match=argv[0].split("=")[0]):
        parse(argv)


def test_a_one_letter_form_when_the_table_gives_one():
    """`-o` is --output (tokenizer train, export, import, plot): `-o X`, `-oX` and `-o=X`."""
    for command, before in (("tokenizer train", ["--text=a"]), ("export", ["m.bin"]), ("plot", ["m.jsonl"])):
        for argv in (["-o", "x.json"], ["-ox.json"], ["-o=x.json"]):
            p = parse([*before, *argv], command)
            assert p.values["output"] == "x.json" and "output" in p.given


@pytest.mark.parametrize(
    "command,argv",
    [("info", []), ("info", ["a.bin", "b.bin"]), ("plot", []), ("export", ["-o", "d"]), ("import", ["-o", "m.bin"])],
)
def test_commands_take_their_count_of_paths(command, argv):
    with pytest.raises(UsageError, match=f"{command} takes "):
        parse(argv, command)
