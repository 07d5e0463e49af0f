"""``reference --out`` and ``compare --out`` under the contract of a run directory (issue 25).

Ours or refuse, --force to replace our own, the lock, a destination checked before the work, and
an all-or-nothing swap that keeps a user's other files.
"""

from __future__ import annotations

import os

import pytest

from pinn_gelu.cli import main
from pinn_gelu.runs import outputs, reports
from pinn_gelu.runs.rundir import STAGING_PREFIX, RunLock

FAST_COMPARE = ["--activations", "gelu", "--quiet", "--set", "training.adam.steps=5", "--set"]
FAST_COMPARE += ["training.lbfgs.steps=0"]


@pytest.fixture
def box(write, valid):
    """A 1D Poisson file whose finite-difference reference takes milliseconds."""
    valid["reference"] = {"finite_difference": {"points": 17}}
    return write(valid)


def reference(path, out, *extra) -> int:
    return main(["reference", str(path), "--out", str(out), *extra])


def compare(path, out, *extra) -> int:
    return main(["compare", str(path), "--out", str(out), *FAST_COMPARE, *extra])


def snapshot(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_a_reference_is_written_once_and_replaced_only_with_force(box, tmp_path, capsys):
    out = tmp_path / "ref"
    assert reference(box, out) == 0
    (out / "notes.txt").write_text("my notes")
    first = snapshot(out)
    assert reference(box, out) == 2
    assert "holds a reference already; use --force" in capsys.readouterr().err
    assert snapshot(out) == first
    assert reference(box, out, "--force", "--points", "9") == 0
    assert (out / "notes.txt").read_text() == "my notes"  # a user's file beside ours stays
    assert (out / "reference.json").read_bytes() != first["reference.json"]
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


@pytest.mark.parametrize(
    ("name", "content"),
    [("reference.json", '{"mine": true}'), ("comparison.md", "# my own table"), ("a.txt", "x")],
)
def test_a_users_directory_is_refused_by_both_commands(box, tmp_path, capsys, name, content):
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text(content)
    assert reference(box, out, "--force") == 2
    assert "not empty and holds no reference of pinn_gelu" in capsys.readouterr().err
    assert compare(box, out, "--force") == 2
    assert "not empty and holds no comparison of pinn_gelu" in capsys.readouterr().err
    assert snapshot(out) == {name: content.encode()}


def test_a_reference_does_not_replace_a_finished_runs_files(box, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["solve", str(box), "--out", str(run), "--quiet"]) == 0
    before = snapshot(run)
    assert reference(box, run, "--force") == 2
    assert "holds no reference of pinn_gelu" in capsys.readouterr().err
    assert snapshot(run) == before


def test_a_locked_directory_is_refused_before_the_work(box, tmp_path, capsys, monkeypatch):
    out = tmp_path / "busy"
    solved = []
    monkeypatch.setattr(
        "pinn_gelu.cli.reference._solve", lambda *a: solved.append(1) or pytest.fail("solved")
    )
    with RunLock(out):
        assert reference(box, out) == 2
        assert "in use by another pinn-gelu process" in capsys.readouterr().err
        assert compare(box, out) == 2
        assert "in use by another pinn-gelu process" in capsys.readouterr().err
    assert solved == []


@pytest.mark.parametrize("command", [reference, compare])
def test_an_output_name_taken_by_a_directory_is_refused_with_nothing_written(
    box, tmp_path, capsys, command
):
    out = tmp_path / "out"
    taken = "reference.png" if command is reference else "comparison.md"
    (out / taken).mkdir(parents=True)
    assert command(box, out) == 2
    err = capsys.readouterr().err
    assert f"{taken} exists and is not a regular file" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == [taken]


def test_a_failure_while_writing_leaves_the_old_reference_whole(box, tmp_path, monkeypatch):
    out = tmp_path / "ref"
    assert reference(box, out) == 0
    before = snapshot(out)

    def broken(path, figure):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reports, "save_figure", broken)
    with pytest.raises(OSError):
        reference(box, out, "--force", "--points", "9")
    assert snapshot(out) == before
    assert sorted(os.listdir(out)) == sorted(before)  # no staging directory, no lock file left


def test_a_failed_first_reference_leaves_no_directory(box, tmp_path, monkeypatch):
    out = tmp_path / "new" / "ref"
    monkeypatch.setattr(reports, "save_figure", lambda *a: (_ for _ in ()).throw(OSError(5, "EIO")))
    with pytest.raises(OSError):
        reference(box, out)
    assert not (tmp_path / "new").exists()


def test_a_comparison_is_ours_and_replaced_only_with_force(box, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert compare(box, out) == 0
    (out / "notes.txt").write_text("mine")
    first = snapshot(out)
    assert outputs.owned_by(out, outputs.COMPARISON)
    assert not outputs.owned_by(out, outputs.REFERENCE)
    assert compare(box, out) == 2
    assert "holds a comparison already; use --force" in capsys.readouterr().err
    assert snapshot(out) == first
    assert reference(box, out, "--force") == 2  # a comparison is not a reference
    assert compare(box, out, "--force", "--seeds", "1") == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "comparison.json").read_bytes() != first["comparison.json"]


def test_a_marker_too_large_or_not_ours_does_not_make_a_directory_ours(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    marker = out / "reference.json"
    marker.write_text('{"format": "someone.else/1", "relative_l2_vs_exact": {}}')
    assert not outputs.owned_by(out, outputs.REFERENCE)
    marker.write_text('{"relative_l2_vs_exact": {}}')  # written before the format tag
    assert outputs.owned_by(out, outputs.REFERENCE)
    marker.write_text('{"format": "pinn_gelu.reference/1", "pad": "' + "x" * 1_000_001 + '"}')
    assert not outputs.owned_by(out, outputs.REFERENCE)
    marker.unlink()
    marker.symlink_to(tmp_path)
    assert not outputs.owned_by(out, outputs.REFERENCE)


def test_the_marker_is_moved_last(box, tmp_path, monkeypatch):
    # a swap cut short (here: the marker's move fails) leaves the old marker: a directory whose
    # marker is new holds a whole new output
    out = tmp_path / "ref"
    assert reference(box, out) == 0
    old_marker = (out / "reference.json").read_bytes()
    moved = []
    real = os.replace

    def replace(source, target):
        if os.path.dirname(target) == str(out):  # the swap, not the writes into staging
            if os.path.basename(target) == "reference.json":
                raise OSError(5, "EIO")
            moved.append(os.path.basename(target))
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        reference(box, out, "--force", "--points", "9")
    assert (out / "reference.json").read_bytes() == old_marker
    assert "reference.npz" in moved and "reference.png" in moved
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
