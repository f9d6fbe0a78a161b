"""bootstrap.py's check for the X11 libraries Qt's xcb plugin needs, with a fake library lookup."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("masklab_bootstrap", ROOT / "bootstrap.py")
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)

ABSENT = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxkbcommon-x11.so.0"}


def fake_lookup(name: str) -> bool:
    return name not in ABSENT


def test_missing_libraries_give_the_exact_install_command():
    missing = bootstrap.missing_qt_libraries({}, "linux", fake_lookup)
    assert missing == [("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxcb-icccm.so.4", "libxcb-icccm4"),
                       ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0")]
    hint = bootstrap.qt_libraries_hint(missing)
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxkbcommon-x11-0\n" in hint
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxkbcommon-x11.so.0" in hint
    assert bootstrap.missing_qt_libraries({"QT_QPA_PLATFORM": "xcb"}, "linux", fake_lookup) == missing


def test_no_check_where_xcb_is_not_used():
    def must_not_look(name: str) -> bool:
        raise AssertionError(f"looked up {name}")

    for env, platform in (({"QT_QPA_PLATFORM": "offscreen"}, "linux"), ({"QT_QPA_PLATFORM": "wayland"}, "linux"),
                          ({}, "darwin"), ({}, "win32")):
        assert bootstrap.missing_qt_libraries(env, platform, must_not_look) == []
    assert bootstrap.missing_qt_libraries({}, "linux", lambda name: True) == []


def test_every_library_has_a_package_and_the_readme_lists_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for library, package in bootstrap.QT_XCB_LIBRARIES:
        assert library.startswith("lib") and ".so." in library
        assert f" {package} " in readme.replace("\\\n", " ").replace("\n", " ")


def test_the_real_lookup_answers_for_the_c_library():
    has = bootstrap.installed_libraries()
    assert has("libc.so.6") and not has("libmasklab-does-not-exist.so.9")
