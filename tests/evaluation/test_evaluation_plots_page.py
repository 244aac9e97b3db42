"""The page `dvc plots show` fills carries Vega inline: no script is fetched from a network."""

from __future__ import annotations

import re
import sys

import pytest

from mer.errors import MerError
from mer.tracking import plots_page


def test_page_is_a_dvc_template_without_cdn_scripts():
    page = plots_page.page("window.vegaEmbed = function () {};")
    assert "{plot_divs}" in page and "{refresh_tag}" in page  # DVC fills these two
    assert "{scripts}" not in page  # DVC's CDN <script src=...> tags go there
    assert "window.vegaEmbed = function () {};" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)


def test_a_closing_script_tag_in_the_bundle_cannot_end_the_inline_script():
    page = plots_page.page('var s = "</script><script>alert(1)";')
    assert page.count("</script>") == 1


@pytest.mark.slow
def test_the_installed_bundle_defines_vega_embed_and_loads_nothing(tmp_path):
    assert plots_page.main([str(tmp_path / "build" / "dvc-plots.html")]) == 0
    page = (tmp_path / "build" / "dvc-plots.html").read_text(encoding="utf-8")
    assert "window.vegaEmbed=" in page.replace(" ", "")
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "cdn.jsdelivr" not in page


def test_without_vl_convert_it_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # import fails
    with pytest.raises(MerError, match="pip install vl-convert-python"):
        plots_page.vega_bundle()
    assert plots_page.main([str(tmp_path / "page.html")]) == 2
    assert "vl-convert-python" in capsys.readouterr().err
    assert not (tmp_path / "page.html").exists()
