"""The group tree: an "All devices" root over the console's groups, each labelled with its device count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.models import Group


class GroupTree(Tree[Group | None]):
    """Node data is the `Group` (None for the root); counts include sub-groups."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("All devices", data=None, **kwargs)  # type: ignore[arg-type]
        self.guide_depth = 2
        self._by_path: dict[tuple[str, ...], TreeNode[Group | None]] = {}

    def show_groups(self, groups: Sequence[Group]) -> None:
        """Build the tree from groups sorted parents first; orphans hang from the root."""
        self.clear()
        self._by_path = {}
        for group in sorted(groups, key=lambda g: len(g.path)):
            parent = self._by_path.get(group.path[:-1], self.root)
            self._by_path[group.path] = parent.add(group.name, data=group, expand=len(group.path) < 2)
        self.root.expand()

    def show_counts(self, counts: Mapping[tuple[str, ...], int], total: int, *, loading: bool) -> None:
        """Label each node with the devices in it and below it; `loading` marks counts still growing."""
        more = "+" if loading else ""
        self.root.set_label(f"All devices ({total:,}{more})")
        for path, node in self._by_path.items():
            group = node.data
            name = group.name if group else path[-1]
            node.set_label(f"{name} ({counts.get(path, 0):,}{more})")

    def selected_path(self) -> tuple[str, ...]:
        node = self.cursor_node
        return node.data.path if node is not None and node.data is not None else ()
