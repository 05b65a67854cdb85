"""Pictures for people: arrays in, arrays out; no file I/O (imageio writes the files).

The package's modules, each with what lives there:

- :mod:`~cnnfilter.render.canvas`: gray to RGB, side by side, enlargement, display RGB.
- :mod:`~cnnfilter.render.text`: kernel matrices as text, the font, captions, labels.
- :mod:`~cnnfilter.render.colour`: colour maps, a response map's scale, colour bars.
- :mod:`~cnnfilter.render.overlay`: detect's heatmap overlays and matched windows.
- :mod:`~cnnfilter.render.pooling`: pool's winners and pooling grid.
- :mod:`~cnnfilter.render.field`: the receptive-field drawing and fitting a photo to it.
- :mod:`~cnnfilter.render.montage`: forward's montages of feature maps and vectors.

Every public name is importable from ``cnnfilter.render`` itself.
"""

from __future__ import annotations

from cnnfilter.render.canvas import (
    BACKGROUND,
    display_rgb,
    enlarge,
    enlarge_factor,
    enlarge_rect,
    side_by_side,
)
from cnnfilter.render.colour import (
    BAR_GAP,
    BAR_WIDTH,
    COLORMAPS,
    DIVERGING_STOPS,
    VIRIDIS_STOPS,
    MapLayout,
    annotate_map,
    colorize,
    colormap_lut,
    heat_strength,
    heatmap_scale,
)
from cnnfilter.render.field import FIT_MODES, fit_to_input, receptive_field_picture
from cnnfilter.render.montage import MONTAGE_MAX_TILES, MONTAGE_SCALES, montage, montage_colours
from cnnfilter.render.overlay import (
    blend_heatmap,
    dim_desaturate,
    draw_box,
    label_peaks,
    mark_peaks,
)
from cnnfilter.render.pooling import pooling_picture, winners_picture
from cnnfilter.render.text import (
    CAPTION_HEIGHT,
    format_number,
    kernel_text,
    text_width,
    with_caption,
)

__all__ = [
    "format_number",
    "kernel_text",
    "side_by_side",
    "COLORMAPS",
    "VIRIDIS_STOPS",
    "DIVERGING_STOPS",
    "colormap_lut",
    "heatmap_scale",
    "colorize",
    "display_rgb",
    "heat_strength",
    "blend_heatmap",
    "draw_box",
    "mark_peaks",
    "winners_picture",
    "receptive_field_picture",
    "CAPTION_HEIGHT",
    "BAR_WIDTH",
    "BAR_GAP",
    "BACKGROUND",
    "MapLayout",
    "enlarge_factor",
    "enlarge",
    "enlarge_rect",
    "text_width",
    "with_caption",
    "annotate_map",
    "label_peaks",
    "dim_desaturate",
    "pooling_picture",
    "FIT_MODES",
    "fit_to_input",
    "MONTAGE_MAX_TILES",
    "MONTAGE_SCALES",
    "montage",
    "montage_colours",
]
