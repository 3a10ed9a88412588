"""CLI wiring: ``smartstore model ...`` subcommands and the enrol round trip."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from smartstore.cli import build_parser
from tests.models.conftest import SHIPPED


def _parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.mark.parametrize("sub", ["train", "export", "evaluate", "bench", "enrol"])
def test_subcommands_are_registered(sub: str) -> None:
    extra = ["--product", "x", "--gallery", "g.npz"] if sub == "enrol" else []
    args = _parser().parse_args(["model", sub, *extra])
    assert callable(args.func)


def test_train_smoke_flags_parse() -> None:
    args = _parser().parse_args(
        [
            "model",
            "train",
            "--max-steps",
            "3",
            "--limit-per-class",
            "2",
            "--epochs",
            "1",
            "--seed",
            "7",
            "--resume",
        ]
    )
    assert (
        args.max_steps,
        args.limit_per_class,
        args.epochs,
        args.seed,
        args.resume,
    ) == (3, 2, 1, 7, True)


def test_bench_alias() -> None:
    args = _parser().parse_args(["bench", "model", "--iterations", "5"])
    assert args.iterations == 5 and callable(args.func)


def test_enrol_list_remove_round_trip(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (SHIPPED / "model.json").is_file():
        pytest.skip("no shipped model")
    img = data_dir / "train/Fruit/Apple/Golden-Delicious/Golden-Delicious_001.jpg"
    gallery = tmp_path / "g.npz"
    p = _parser()
    args = p.parse_args(
        [
            "model",
            "enrol",
            "--product",
            "apple-x",
            "--gallery",
            str(gallery),
            str(img),
            str(img),
        ]
    )
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 2
    args = p.parse_args(
        [
            "model",
            "enrol",
            "--product",
            "apple-x",
            "--gallery",
            str(gallery),
            "--remove",
        ]
    )
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 2
    args = p.parse_args(
        [
            "model",
            "enrol",
            "--product",
            "apple-x",
            "--gallery",
            str(gallery),
            "--remove",
        ]
    )
    assert args.func(args) == 1  # nothing left to remove
