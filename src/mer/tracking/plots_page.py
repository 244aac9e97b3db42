"""The HTML page `dvc plots show` fills, with Vega inline: the charts draw without network.

DVC's own page loads Vega, Vega-Lite and vega-embed from a CDN, so offline its charts are
blank. This page carries the three libraries inline, from the installed vl-convert-python
package (nothing is downloaded, ever), and leaves out DVC's {scripts}, the CDN tags.
`make install` writes it to build/dvc-plots.html and points DVC at it for this clone
(`dvc config --local plots.html_template ../build/dvc-plots.html`). By hand:

    python -m mer.tracking.plots_page build/dvc-plots.html
    dvc plots show --html-template build/dvc-plots.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mer.errors import MerError

# DVC's templates (and .dvc/plots/bars.json) are Vega-Lite 5 specs: the newest Vega-Lite 5
# that vl-convert bundles.
VEGA_LITE = "5.21"
BUNDLE = "{vega_bundle}"  # where the libraries go; DVC fills {refresh_tag} and {plot_divs}
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC plots</title>
    <!-- Vega, Vega-Lite and vega-embed, inline (vl-convert-python): no network needed -->
    <script type="text/javascript">{vega_bundle}</script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def vega_bundle() -> str:
    """vega-embed, Vega-Lite and Vega as one script that sets window.vegaEmbed."""
    try:
        import vl_convert
    except ImportError:
        raise MerError("the offline plots page needs vl-convert-python, which holds the Vega "
                       "libraries: `pip install vl-convert-python` (make install does)") from None
    return vl_convert.javascript_bundle(vl_version=VEGA_LITE)


def page(bundle: str) -> str:
    """The page template with ``bundle`` inline."""
    # An inline script ends at the first "</script", wherever it stands.
    return PAGE.replace(BUNDLE, bundle.replace("</script", "<\\/script"))


def write_page(path: str | Path) -> Path:
    from mer.atomic import write_text

    return write_text(Path(path), page(vega_bundle()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mer.tracking.plots_page",
        description="Write the HTML template `dvc plots show --html-template` (or the DVC "
                    "config plots.html_template) uses to draw its charts offline.")
    parser.add_argument("path", type=Path, help="the page to write, e.g. build/dvc-plots.html")
    args = parser.parse_args(argv)
    try:
        print(write_page(args.path))
    except MerError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
