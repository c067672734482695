"""A checkbox and a radio button whose state shows in their shape, not only in their colour.

Textual draws `▐X▌` ticked or not and tells them apart by colour alone, which a monochrome terminal or a
colour-blind user cannot see: here an unticked box is an empty `▐ ▌`.
"""

from __future__ import annotations

from textual.widgets import Checkbox, RadioButton


class ShapedCheckbox(Checkbox):
    """`▐X▌` ticked, `▐ ▌` not."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual reads the glyph under this name
        return "X" if self.value else " "


class ShapedRadioButton(RadioButton):
    """`▐●▌` chosen, `▐ ▌` not."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual reads the glyph under this name
        return "\u25cf" if self.value else " "
