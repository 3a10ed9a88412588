"""The checkout's TOML: label schemes, station pay codes and keypads are checked when the file loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_agent.config import AgentSettings, BarcodeLabel, BarcodeSettings, ConfigError, StationSettings
from edge_agent.domain.barcodes import BarcodeScheme, EmbeddedCode, EmbeddedLayout, make_embedded

REPO = Path(__file__).resolve().parents[2]
SCALE = {"type": "mtsics", "url": "/dev/a"}


def test_a_label_by_fields_is_the_same_layout_as_its_pattern() -> None:
    fields = BarcodeLabel(prefix="21", kind="weight", item_digits=5, value_digits=5)
    assert fields.to_pattern() == "21PPPPPWWWWWC"
    checked = BarcodeLabel(prefix="2", kind="price", item_digits=6, value_digits=4, value_check=True)
    assert checked.to_pattern() == "2PPPPPPV$$$$C"
    scheme = BarcodeScheme.from_patterns([fields.to_pattern()])
    decoded = scheme.decode(make_embedded(EmbeddedLayout.parse("21PPPPPWWWWWC"), "00042", 1250))
    assert isinstance(decoded, EmbeddedCode)
    assert (decoded.item_code, decoded.weight_g) == ("00042", 1250.0)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"prefix": "21", "kind": "weight", "item_digits": 4, "value_digits": 5}, "make 12 digits, not 13"),
        ({"pattern": "21PPPPPXXXXXC"}, "only P, W, $ and V"),
        ({"prefix": "21"}, "either pattern, or prefix and kind"),
        ({"pattern": "21PPPPPWWWWWC", "prefix": "21", "kind": "weight"}, "either pattern"),
    ],
)
def test_bad_labels_are_refused_naming_the_problem(label: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("$", r"\$")):
        BarcodeLabel.model_validate(label)


def test_overlapping_label_prefixes_are_refused() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        BarcodeSettings.model_validate({"labels": [{"pattern": "2PPPPPPWWWWWC"}, {"pattern": "21PPPPPWWWWWC"}]})


def test_pay_codes_need_a_scanner_and_cannot_also_cancel() -> None:
    with pytest.raises(ValidationError, match="need a scanner"):
        StationSettings.model_validate({"station_id": "co1", "scale": SCALE, "pay_codes": ["PAY-co1"]})
    with pytest.raises(ValidationError, match="both pay and cancel"):
        StationSettings.model_validate(
            {
                "station_id": "co1",
                "scale": SCALE,
                "scanner": {"url": "/dev/b"},
                "pay_codes": ["X-co1"],
                "cancel_codes": ["X-co1"],
            }
        )


def test_what_can_pay_at_each_hardware_combination() -> None:
    def inputs(**devices: object) -> list[str]:
        return StationSettings.model_validate({"station_id": "co1", "scale": SCALE, **devices}).pay_inputs()

    scanner = {"url": "/dev/s"}
    assert inputs(screen={"type": "nextion", "url": "/dev/n"}) == ["touch"]
    assert inputs(screen={"type": "escpos", "url": "/dev/p"}) == []  # nothing can pay (the agent warns)
    assert inputs(screen={"type": "escpos", "url": "/dev/p"}, scanner=scanner) == ["member_code"]
    assert inputs(scanner=scanner, pay_codes=["PAY-co1"], pay_by_member_code=False) == ["scanner"]
    assert inputs(keypad={"url": "/dev/k"}, scanner=scanner) == ["keypad", "member_code"]
    assert inputs(readers=[{"type": "scanner", "url": "/dev/r"}], pay_codes=["PAY-co1"]) == ["scanner", "member_code"]


def test_a_keypad_needs_two_different_keys() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        StationSettings.model_validate(
            {"station_id": "co1", "scale": SCALE, "keypad": {"url": "/dev/k", "pay_key": "#", "cancel_key": "#"}}
        )


def test_the_example_config_has_a_pole_station_and_a_label_scheme() -> None:
    settings = AgentSettings.from_toml(REPO / "deploy" / "agent.example.toml")
    assert settings.checkout is not None
    pole = next(s for s in settings.checkout.stations if s.station_id == "co2")
    assert pole.pay_inputs() == ["scanner", "member_code"]
    assert [label.to_pattern() for label in settings.checkout.barcodes.labels] == ["21PPPPPWWWWWC", "22PPPPP$$$$$C"]


def test_a_bad_label_in_the_toml_is_one_line_naming_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        'store_id = "s1"\nlock = { type = "lcus", url = "/dev/l" }\n'
        '[checkout.barcodes]\n[[checkout.barcodes.labels]]\npattern = "21PPPPPWWWWW"\n'
    )
    with pytest.raises(ConfigError) as err:
        AgentSettings.from_toml(path)
    text = str(err.value)
    assert "agent.toml:4: checkout.barcodes.labels.0" in text and "end with C" in text, text
    assert "\n" not in text
