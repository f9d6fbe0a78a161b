"""Project-wide label changes: rename, merge into another label, or delete a label's shapes, in
every LabelMe file of a project, with a record precise enough to undo and redo them.

One `LabelChange(old, new)` covers all three: `new` a label name relabels the shapes of `old`
(a rename, or a merge when `new` exists already); `new=None` deletes them. Each file is read,
changed in memory and written atomically (`Project.save_annotation`); a file that cannot be
read or written is skipped, reported, and never overwritten. Images whose annotation a caller
holds in memory (an editor's open images) are left to the caller through `apply_to_annotation`,
so that a file is never changed behind an unsaved edit.

Everything here is plain Python, safe to run off the GUI thread; `progress(done, total)` is
called after each file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .annotation import Annotation, Shape
from .errors import MasklabError
from .project import LabelDef, Project

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LabelChange:
    old: str
    new: str | None  # None: delete the shapes

    def describe(self, labels: Iterable[str] = ()) -> str:
        if self.new is None:
            return f"Delete label {self.old} and its shapes"
        return (f"Merge label {self.old} into {self.new}" if self.new in set(labels)
                else f"Rename label {self.old} to {self.new}")


@dataclass
class FileChange:
    """What one change did to one annotation."""

    relabelled: list[int] = field(default_factory=list)  # indices now labelled `new`
    removed: list[tuple[int, Shape]] = field(default_factory=list)  # (index before removal, shape), ascending

    @property
    def shapes(self) -> int:
        return len(self.relabelled) + len(self.removed)


@dataclass
class ChangeResult:
    files: dict[Path, FileChange] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def shapes(self) -> int:
        return sum(f.shapes for f in self.files.values())


@dataclass
class LabelUse:
    shapes: int = 0
    images: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def labels_after(labels: list[LabelDef], change: LabelChange) -> list[LabelDef]:
    """The project's label list after the change: a rename keeps the colour and the place; a
    merge or a delete drops `old`."""
    names = [l.name for l in labels]
    if change.new is not None and change.new not in names:
        return [LabelDef(change.new if l.name == change.old else l.name, l.color) for l in labels]
    return [LabelDef(l.name, l.color) for l in labels if l.name != change.old]


# -- one annotation --------------------------------------------------------------------------
def apply_to_annotation(ann: Annotation, change: LabelChange) -> FileChange | None:
    """Change the shapes labelled `change.old`; None when there are none."""
    hits = [i for i, s in enumerate(ann.shapes) if s.label == change.old]
    if not hits:
        return None
    if change.new is not None:
        for i in hits:
            ann.shapes[i].label = change.new
        return FileChange(relabelled=hits)
    removed = [(i, ann.shapes[i]) for i in hits]
    for i in reversed(hits):
        del ann.shapes[i]
    return FileChange(removed=removed)


def undo_annotation(ann: Annotation, change: LabelChange, done: FileChange) -> None:
    """Put back what `apply_to_annotation` changed (shapes edited since keep their edits)."""
    for i in done.relabelled:
        if i < len(ann.shapes) and ann.shapes[i].label == change.new:
            ann.shapes[i].label = change.old
    for i, shape in done.removed:
        ann.shapes.insert(min(i, len(ann.shapes)), shape)


def redo_annotation(ann: Annotation, change: LabelChange, done: FileChange) -> FileChange:
    """Do the change again on an annotation it was undone on; returns the new record."""
    if change.new is not None:
        hits = [i for i in done.relabelled if i < len(ann.shapes) and ann.shapes[i].label == change.old]
        for i in hits:
            ann.shapes[i].label = change.new
        return FileChange(relabelled=hits)
    taken: list[int] = []  # the removed shapes, found by content (a file read again holds copies)
    for _, old in done.removed:
        match = next((i for i, s in enumerate(ann.shapes)
                      if i not in taken and s.label == change.old and (s is old or s.same_content(old))), None)
        if match is not None:
            taken.append(match)
    removed = [(i, ann.shapes[i]) for i in sorted(taken)]
    for i, _ in reversed(removed):
        del ann.shapes[i]
    return FileChange(removed=removed)


# -- files on disk ---------------------------------------------------------------------------
def _edit_file(project: Project, image: Path, edit: Callable[[Annotation], FileChange | None],
               result: ChangeResult) -> None:
    try:
        ann = project.load_annotation(image)
    except MasklabError as e:
        result.skipped.append((image, str(e)))
        return
    except OSError as e:
        result.skipped.append((image, f"{project.annotation_path(image)}: {e.strerror or e}"))
        return
    if ann is None:
        return
    done = edit(ann)
    if done is None:
        return
    try:
        project.save_annotation(image, ann)
    except MasklabError as e:
        result.skipped.append((image, str(e)))
        return
    result.files[image] = done


def apply_to_files(project: Project, change: LabelChange, skip: Iterable[Path] = (),
                   progress: Progress | None = None) -> ChangeResult:
    """Apply the change to every annotation file of the project except the images in `skip`."""
    skip = {Path(p) for p in skip}
    images = [p for p in project.iter_images() if p not in skip]
    result = ChangeResult()
    for k, image in enumerate(images, start=1):
        if project.annotation_path(image).exists():
            _edit_file(project, image, lambda ann: apply_to_annotation(ann, change), result)
        if progress is not None:
            progress(k, len(images))
    return result


def undo_in_files(project: Project, change: LabelChange, files: dict[Path, FileChange],
                  progress: Progress | None = None) -> ChangeResult:
    """Undo the change in the given files; the result's `files` are those put back."""
    result = ChangeResult()
    for k, (image, done) in enumerate(files.items(), start=1):
        _edit_file(project, image, lambda ann, d=done: (undo_annotation(ann, change, d), d)[1], result)
        if progress is not None:
            progress(k, len(files))
    return result


def redo_in_files(project: Project, change: LabelChange, files: dict[Path, FileChange],
                  progress: Progress | None = None) -> ChangeResult:
    """Redo the change in files it was undone in; the result holds the new records."""
    result = ChangeResult()
    for k, (image, done) in enumerate(files.items(), start=1):
        def redo(ann: Annotation, d: FileChange = done) -> FileChange | None:
            new = redo_annotation(ann, change, d)
            return new if new.shapes else None

        _edit_file(project, image, redo, result)
        if progress is not None:
            progress(k, len(files))
    return result


def count_uses(project: Project, label: str, in_memory: dict[Path, Annotation] | None = None,
               progress: Progress | None = None) -> LabelUse:
    """How many shapes (and images) carry `label`; `in_memory` annotations count instead of
    their files."""
    in_memory = {Path(k): v for k, v in (in_memory or {}).items()}
    use = LabelUse()
    images = project.image_paths()
    for k, image in enumerate(images, start=1):
        ann = in_memory.get(image)
        if ann is None and project.annotation_path(image).exists():
            try:
                ann = project.load_annotation(image)
            except (MasklabError, OSError) as e:
                use.unreadable.append((image, str(e)))
        if ann is not None:
            n = sum(1 for s in ann.shapes if s.label == label)
            use.shapes += n
            use.images += bool(n)
        if progress is not None:
            progress(k, len(images))
    return use
