"""Where a Pareto panel's point labels go: each at the first of four offsets around its point whose box stays inside
the axes and overlaps no label placed before it; in a crowded panel, labels of runs off the frontier are hidden
rather than drawn over others.

Example:
    fig.draw_without_rendering()          # lay the figure out first, so boxes are measured where they will be
    place_labels(ax, annotations, optional=frozenset({3, 4}))
"""

from __future__ import annotations


def _set_offset(ann, offset: tuple[int, int], ha: str, va: str) -> None:
    ann.xyann = offset
    ann.set_ha(ha)
    ann.set_va(va)


def place_labels(ax, annotations: list, optional: frozenset[int] = frozenset()) -> None:
    """Move each point label to the first of four offsets whose box stays inside the axes and overlaps no label
    placed before it (else the first that overlaps nothing, else the default). A label whose index is in
    `optional` (a run off the frontier in a crowded panel) is placed after the others, and hidden where every
    offset overlaps one."""
    annotations = [a for i, a in enumerate(annotations) if i not in optional] + [annotations[i] for i in sorted(optional)]
    hide_from = len(annotations) - len(optional)
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    points = ax.figure.dpi / 72  # offsets are in points, boxes in pixels
    candidates = (((7, 4), "left", "bottom"), ((7, -4), "left", "top"), ((-7, 4), "right", "bottom"), ((-7, -4), "right", "top"))
    placed = []
    for index, ann in enumerate(annotations):
        _set_offset(ann, *candidates[0])
        first = ann.get_window_extent(renderer)  # measured once: the other offsets move the same box
        boxes = []
        for (dx, dy), ha, va in candidates:
            x0 = first.x0 + (dx - candidates[0][0][0]) * points - (first.width if ha == "right" else 0)
            y0 = first.y0 + (dy - candidates[0][0][1]) * points - (first.height if va == "top" else 0)
            boxes.append(Bbox.from_bounds(x0, y0, first.width, first.height))
        scored = []
        for rank, box in enumerate(boxes):
            clash = any(box.overlaps(other) for other in placed)
            outside = not (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1)
            scored.append((clash, outside, rank))
        clash, _, best = min(scored)
        if clash and index >= hide_from:
            ann.set_visible(False)
            continue
        _set_offset(ann, *candidates[best])
        placed.append(boxes[best])
