"""The option table and parser of `python -m rnnpy` (in process, fast)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnnpy.cli.options import OPTIONS, SAMPLE_TEXT, options_for
from rnnpy.cli.parser import parse
from rnnpy.cli.train import epoch_path
from rnnpy.errors import UsageError

OLD_DEFAULTS = {
    "hiddenSize": 32, "numLayers": 1, "embedSize": 16, "numHeads": 4, "numExperts": 4, "topK": 1,
    "fastMode": False, "useRWKV": True, "trainingText": SAMPLE_TEXT, "trainingFile": "", "epochs": 500,
    "learningRate": 0.001, "weightDecay": 0.01, "batchSize": 4, "seqLength": 25, "logEvery": 25,
    "temperature": 0.8, "genLength": 100, "savePath": "./checkpoint.bin", "saveEvery": 0,
    "loadCheckpoint": "", "saveOnComplete": True, "useBPE": False, "trainBPE": False, "bpeVocabSize": 512,
    "bpeSavePath": "./tokenizer.json", "bpeLoadPath": "", "bpeTrainingFile": "", "bpeTrainingText": "",
    "bpeMinFrequency": 2, "doRL": False, "rlTask": "copy", "rlEpisodes": 100, "rlLearningRate": 0.0001,
}  # fmt: skip

# A non-default value for every old option, as the old program would be given it.
OLD_VALUES = {
    "hiddenSize": ("64", 64), "numLayers": ("2", 2), "embedSize": ("8", 8), "numHeads": ("2", 2),
    "numExperts": ("3", 3), "topK": ("2", 2), "fastMode": ("true", True), "useRWKV": ("false", False),
    "trainingText": ("abc abc", "abc abc"), "trainingFile": ("x.txt", "x.txt"), "epochs": ("7", 7),
    "learningRate": ("0.01", 0.01), "weightDecay": ("0", 0.0), "batchSize": ("2", 2), "seqLength": ("9", 9),
    "logEvery": ("3", 3), "temperature": ("0.5", 0.5), "genLength": ("12", 12), "savePath": ("m.bin", "m.bin"),
    "saveEvery": ("5", 5), "loadCheckpoint": ("c.bin", "c.bin"), "saveOnComplete": ("false", False),
    "useBPE": ("true", True), "trainBPE": ("true", True), "bpeVocabSize": ("300", 300),
    "bpeSavePath": ("t.json", "t.json"), "bpeLoadPath": ("l.json", "l.json"), "bpeTrainingFile": ("c.txt", "c.txt"),
    "bpeTrainingText": ("xyz", "xyz"), "bpeMinFrequency": ("3", 3), "doRL": ("true", True),
    "rlTask": ("reverse", "reverse"), "rlEpisodes": ("5", 5), "rlLearningRate": ("0.001", 0.001),
}  # fmt: skip


def test_defaults_are_the_old_programs():
    opts = parse([]).values
    for name, value in OLD_DEFAULTS.items():
        assert opts[name] == value, name
    assert opts["gradClip"] == 1.0 and opts["quiet"] is False and opts["metricsFile"] == "" and opts["seed"] == ""


@pytest.mark.parametrize("name", sorted(OLD_VALUES))
def test_every_old_option_in_every_spelling(name):
    text, value = OLD_VALUES[name]
    kebab = "".join("-" + c.lower() if c.isupper() else c for c in name)
    for argv in (
        [f"--{name}={text}"],
        [f"--{name.lower()}={text}"],
        [f"--{name.upper()}={text}"],
        [f"--{kebab}", text],
    ):
        opts = parse(argv)
        assert opts.values[name] == value, argv
        assert opts.given == {name}


def test_table_covers_the_old_options_and_the_new_ones():
    names = {o.name for o in OPTIONS}
    assert set(OLD_DEFAULTS) <= names
    assert {"seed", "gradClip", "quiet", "metricsFile", "prompt"} <= names


@pytest.mark.parametrize(
    "text,value", [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)]
)
def test_booleans(text, value):
    assert parse([f"--fastMode={text}"]).values["fastMode"] is value
    assert parse(["--fast-mode", text]).values["fastMode"] is value


def test_boolean_alone_means_true_and_does_not_eat_the_next_option():
    opts = parse(["--quiet", "--epochs", "3"]).values
    assert opts["quiet"] is True and opts["epochs"] == 3


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--hiddenSiz=3"], "unknown option --hiddenSiz (did you mean --hiddenSize?)"),
        (["--epochs=ten"], "option --epochs: expected an integer, got 'ten'"),
        (["--learningRate=fast"], "option --learningRate: expected a number"),
        (["--fastMode=maybe"], "option --fastMode: expected true/false"),
        (["--seqLength=0"], "option --seqLength: must be at least 1"),
        (["--temperature=-1"], "option --temperature: must not be negative"),
        (["--seed=x"], "option --seed"),
        (["--savePath"], "option --savePath needs a value"),
        (["epochs=3"], "unexpected argument 'epochs=3'"),
    ],
)
def test_errors_name_the_option(argv, fragment):
    with pytest.raises(UsageError) as e:
        parse(argv)
    assert fragment in str(e.value)


def test_negative_number_as_separate_value_is_a_value():
    with pytest.raises(UsageError, match="must not be negative"):
        parse(["--temperature", "-1"])


def test_epoch_path_replaces_only_the_files_own_extension():
    assert epoch_path("./model.bin", 50) == "./model_epoch50.bin"
    assert epoch_path("runs.bin/model.bin", 5) == "runs.bin/model_epoch5.bin"
    assert epoch_path("runs.bin/model", 5) == "runs.bin/model_epoch5"
    assert epoch_path("a.bin.bak", 5) == "a.bin_epoch5.bak"
    assert epoch_path("model", 7) == "model_epoch7"


def test_help_lists_every_option_with_its_default():
    out = subprocess.run(
        [sys.executable, "-m", "rnnpy", "train", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    for o in options_for("train"):
        assert f"--{o.name}" in out.stdout
    assert "./checkpoint.bin" in out.stdout and "0.001" in out.stdout and "(built-in sample)" in out.stdout
    top = subprocess.run([sys.executable, "-m", "rnnpy", "--help"], capture_output=True, text=True, check=False)
    assert top.returncode == 0 and "generate" in top.stdout and "tokenizer" in top.stdout
