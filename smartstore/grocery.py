"""The grocery-store photo set as a store's catalog, shared by the checkout benchmark and the demo."""

from __future__ import annotations

import csv
from pathlib import Path

from edge_agent.domain.barcodes import gtin_check_digit
from edge_agent.domain.catalog import Catalog, Product

# Unit weights (g) of the packaged products, by name keyword: cartons, tubs and cups as sold.
PACKAGE_WEIGHTS = (
    ("Sour-Cream", 320.0),
    ("Soyghurt", 520.0),
    ("Oatghurt", 420.0),
    ("Tropicana", 900.0),
    ("Yoghurt", 1030.0),
    ("Juice", 1060.0),
    ("Milk", 1045.0),
    ("Grapefruit", 1060.0),
    ("Mandarin", 900.0),
)


def _package_weight(name: str) -> float:
    return next((w for key, w in PACKAGE_WEIGHTS if key in name), 1000.0)


def build_catalog(data_dir: Path) -> tuple[Catalog, dict[int, Product]]:
    """Return a catalog of the 81 classes (packages counted, produce sold by weight)."""
    products: dict[int, Product] = {}
    with open(data_dir / "classes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            name, cid = row["Class Name (str)"], int(row["Class ID (int)"])
            group = row["Iconic Image Path (str)"].split("/")[2]
            if group == "Packages":
                digits = f"73{cid:010d}"
                products[cid] = Product(
                    id=name,
                    name=name.replace("-", " "),
                    price_cents=1500 + 37 * cid % 900,
                    barcodes=(digits + str(gtin_check_digit(digits)),),
                    unit_weight_g=_package_weight(name),
                    weight_tolerance_g=15.0,
                )
            else:
                products[cid] = Product(
                    id=name, name=name.replace("-", " "), sold_by_weight=True, price_per_kg_cents=2000 + 53 * cid % 4000
                )
    return Catalog(products.values()), products
