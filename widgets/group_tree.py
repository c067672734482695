"""The group tree: an "All devices" root over the console's groups, each labelled with its device count.

Labels are fitted to the tree's width: a long group name is shortened with an ellipsis so the count
after it always stays whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual import events
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.models import Group

GUIDE_DEPTH = 2
ICON_WIDTH = 2  # the expand/collapse arrow and its space


class GroupTree(Tree[Group | None]):
    """Node data is the `Group` (None for the root); counts include sub-groups."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("All devices", data=None, **kwargs)  # type: ignore[arg-type]
        self.guide_depth = GUIDE_DEPTH
        self._by_path: dict[tuple[str, ...], TreeNode[Group | None]] = {}
        self._counts: Mapping[tuple[str, ...], int] = {}
        self._total = 0
        self._loading = False

    def show_groups(self, groups: Sequence[Group]) -> None:
        """Build the tree from groups sorted parents first; orphans hang from the root."""
        self.clear()
        self._by_path = {}
        for group in sorted(groups, key=lambda g: len(g.path)):
            parent = self._by_path.get(group.path[:-1], self.root)
            self._by_path[group.path] = parent.add(group.name, data=group, expand=len(group.path) < 2)
        self.root.expand()
        self._relabel()

    def show_counts(self, counts: Mapping[tuple[str, ...], int], total: int, *, loading: bool) -> None:
        """Label each node with the devices in it and below it; `loading` marks counts still growing."""
        self._counts, self._total, self._loading = counts, total, loading
        self._relabel()

    def on_resize(self, event: events.Resize) -> None:
        self._relabel()

    def _relabel(self) -> None:
        more = "+" if self._loading else ""
        self.root.set_label(self._fit("All devices", f"{self._total:,}{more}", 0))
        for path, node in self._by_path.items():
            count = f"{self._counts.get(path, 0):,}{more}"
            node.set_label(self._fit(path[-1], count, len(path)))

    def _fit(self, name: str, count: str, depth: int) -> Text:
        width = self.scrollable_content_region.width or 40
        room = width - depth * GUIDE_DEPTH - ICON_WIDTH - len(count) - 3
        label = Text(name)
        if len(name) > room:
            label.truncate(max(room, 1), overflow="ellipsis")
        label.append(f" ({count})", style="dim")
        return label
