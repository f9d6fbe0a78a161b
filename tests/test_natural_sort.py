"""Natural order of image paths: numbers by value, text without case, folders part by part."""
from __future__ import annotations

from pathlib import Path

from core.natural_sort import natural_sorted


def test_numbers_compare_by_value_and_text_without_case():
    names = ["car_10.jpg", "car_2.jpg", "Car_1.png", "car_02.jpg", "car_1b.jpg", "10.jpg", "x.jpg"]
    assert natural_sorted(names) == ["10.jpg", "Car_1.png", "car_1b.jpg", "car_2.jpg", "car_02.jpg",
                                     "car_10.jpg", "x.jpg"]


def test_folders_are_compared_part_by_part_and_the_order_is_total():
    paths = [Path("b10/x.jpg"), Path("b9/x.jpg"), Path("b9/x_10.jpg"), Path("b9/x_9.jpg"), Path("a.jpg")]
    assert natural_sorted(paths) == [Path("a.jpg"), Path("b9/x.jpg"), Path("b9/x_9.jpg"), Path("b9/x_10.jpg"),
                                     Path("b10/x.jpg")]
    assert natural_sorted(["A.jpg", "a.jpg"]) == natural_sorted(["a.jpg", "A.jpg"])  # ties broken by the name
