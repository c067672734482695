"""The group tree: a root over one console's groups, or over several consoles (All fleets).

Each node's data is the `DeviceFilter` scope it stands for, so selecting a node is selecting a scope.
Nodes are made lazily: a console's groups arrive in one listing, but only the levels the user opens
become tree nodes, and a level with thousands of groups is inserted in chunks between refreshes.
Until its groups arrive, a console shows a "loading…" child. Labels carry device counts (sub-groups
included) and are fitted to the tree's width: a long name gets an ellipsis, the count stays whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.inventory import DeviceFilter, Inventory
from tui.models import Group

GUIDE_DEPTH = 2
ICON_WIDTH = 2  # the expand/collapse arrow and its space
CHUNK = 200
"""Nodes inserted per refresh when a level is large, so the tree never freezes the screen."""

Node = TreeNode[DeviceFilter]
Key = tuple[str, ...]
"""A console's name followed by a group path."""


class GroupTree(Tree[DeviceFilter]):
    """`connections` hang from the root (several) or are the root (one).

    The keys of a vim user's tree: j k move, g G go to the ends, l opens a group, h closes it.
    """

    BINDINGS = [
        Binding("k", "cursor_up", "Cursor Up", show=False),
        Binding("j", "cursor_down", "Cursor Down", show=False),
        Binding("home,g", "scroll_home", "First", show=False),
        Binding("end,G", "scroll_end", "Last", show=False),
        Binding("l,right", "open_node", "Open", show=False, tooltip="Open the group (open already: its first sub-group)"),
        Binding("h,left", "close_node", "Close", show=False, tooltip="Close the group (closed already: its parent)"),
    ]

    def __init__(self, connections: Sequence[str], **kwargs: Any) -> None:
        fleets = len(connections) > 1
        root_scope = DeviceFilter() if fleets else DeviceFilter(connection=connections[0])
        super().__init__("All fleets" if fleets else "All devices", data=root_scope, **kwargs)
        self.guide_depth = GUIDE_DEPTH
        self._tops: dict[str, Node] = {}
        self._listed: dict[str, list[tuple[str, ...]]] = {}
        self._child_groups: dict[Key, list[Group]] = {}
        self._group_nodes: dict[Key, Node] = {}
        self._node_depth: dict[Key, int] = {}
        self._inventory = Inventory()
        self._loading = True
        self._failed: set[str] = set()
        """Consoles whose first load failed: no count, and the failure in place of "loading…"."""
        self._console_counts: dict[Key, int | None] = {}
        """Nodes whose members the inventory does not hold yet (EPMM labels): the count the console gave,
        None when it gave none."""
        for connection in connections:
            top = self.root.add(Text(connection), data=DeviceFilter(connection=connection), expand=True) if fleets else self.root
            self._tops[connection] = top
            self._group_nodes[(connection,)] = top
            self._node_depth[(connection,)] = 1 if fleets else 0
            top.add_leaf(Text("loading…", style="dim"), data=top.data)
        self.root.expand()

    def show_groups(self, connection: str, groups: Sequence[Group]) -> None:
        """A console's groups, parents first; a group whose parent is not listed hangs from the top.

        The same groups again (a refresh) leave the tree as the user arranged it.
        """
        paths = [group.path for group in groups]
        if self._listed.get(connection) == paths:
            return
        self._listed[connection] = paths
        top = self._tops[connection]
        top.remove_children()
        self._group_nodes = {key: node for key, node in self._group_nodes.items() if key[0] != connection or len(key) == 1}
        self._child_groups = {key: kids for key, kids in self._child_groups.items() if key[0] != connection}
        known = {group.path for group in groups}
        for group in sorted(groups, key=lambda g: len(g.path)):
            parent = group.path[:-1] if group.path[:-1] in known else ()
            self._child_groups.setdefault((connection, *parent), []).append(group)
        self._open((connection,), top)
        for key in list(self._group_nodes):
            if key[0] == connection and len(key) == 2:
                self._group_nodes[key].expand()  # the first level open, as a console shows it
        self._relabel()

    def show_counts(self, inventory: Inventory, *, loading: bool) -> None:
        """Label each node with the devices in it and below it; `loading` marks counts still growing."""
        self._inventory, self._loading = inventory, loading
        self._relabel()

    def show_failure(self, connection: str, words: str | None) -> None:
        """Say where a console's groups would be that they could not be loaded, in a few words that fit the tree
        (the table's place says why in full); None: loading again."""
        failed = words is not None
        if connection in self._listed or failed == (connection in self._failed):
            return  # groups shown (a failed refresh keeps them; the status line says why), or nothing changed
        top = self._tops[connection]
        top.remove_children()
        if failed:
            self._failed.add(connection)
            top.add_leaf(Text(words, style="red"), data=top.data)
        else:
            self._failed.discard(connection)
            top.add_leaf(Text("loading…", style="dim"), data=top.data)
        self._relabel()

    def show_console_counts(self, connection: str, counts: dict[tuple[str, ...], int | None]) -> None:
        """Label these groups with the console's own count (or "?") until `forget_console_counts`."""
        self._console_counts = {key: count for key, count in self._console_counts.items() if key[0] != connection}
        self._console_counts.update({(connection, *path): count for path, count in counts.items()})
        self._relabel()

    def forget_console_counts(self, connection: str, paths: Sequence[tuple[str, ...]]) -> None:
        """The inventory holds these groups' members now: count them there."""
        for path in paths:
            self._console_counts.pop((connection, *path), None)
        self._relabel()

    def action_open_node(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_node(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[DeviceFilter]) -> None:
        scope = event.node.data
        if scope is not None and scope.connection:
            key = (scope.connection, *scope.group)
            if self._group_nodes.get(key) is event.node:
                self._open(key, event.node)

    def on_resize(self, event: events.Resize) -> None:
        self._relabel()

    def _open(self, key: Key, node: Node) -> None:
        """Make the node's child groups (once), CHUNK at a time."""
        children = self._child_groups.get(key, [])
        if not children or node.children:
            return
        self._add_chunk(key, node, children, 0)

    def _add_chunk(self, key: Key, node: Node, children: list[Group], start: int) -> None:
        connection = key[0]
        for group in children[start:start + CHUNK]:
            child_key = (connection, *group.path)
            child = node.add(Text(group.name), data=DeviceFilter(connection=connection, group=group.path),
                             allow_expand=child_key in self._child_groups)
            self._group_nodes[child_key] = child
            self._node_depth[child_key] = self._node_depth[key] + 1
            child.set_label(self._label(child_key))
        if start + CHUNK < len(children):
            self.call_after_refresh(self._add_chunk, key, node, children, start + CHUNK)

    def _relabel(self) -> None:
        more = "+" if self._loading else ""
        if len(self._tops) > 1:
            self.root.set_label(self._fit("All fleets", f"{len(self._inventory):,}{more}", 0))
        for key, node in self._group_nodes.items():
            node.set_label(self._label(key))

    def _label(self, key: Key) -> Text:
        name = key[-1] if len(key) > 1 or len(self._tops) > 1 else "All devices"
        if key in self._console_counts:
            count = self._console_counts[key]
            return self._fit(name, "?" if count is None else f"{count:,}", self._node_depth[key])
        more = "+" if self._loading else ""
        members = self._inventory.members.get((key[0], *(part.casefold() for part in key[1:])), ())
        if not members and len(key) == 1 and key[0] in self._failed:
            return self._fit(name, "failed", self._node_depth[key])
        return self._fit(name, f"{len(members):,}{more}", self._node_depth[key])

    def _fit(self, name: str, count: str, depth: int) -> Text:
        # Room for a scrollbar is always kept: whether one shows depends on which levels are open, and a
        # label fitted without it would lose its count the moment it appears.
        width = (self.size.width - self.styles.scrollbar_size_vertical) if self.size.width else 40
        room = width - depth * GUIDE_DEPTH - ICON_WIDTH - len(count) - 3
        label = Text(name)
        if len(name) > room:
            label.truncate(max(room, 1), overflow="ellipsis")
        label.append(f" ({count})", style="dim")
        return label
