#!/usr/bin/env bash
# Renders every SVG in a folder to a PNG beside it (CHART.svg -> CHART.png) with rsvg-convert
# (librsvg), the way a person would look at the evaluation charts. Installs librsvg2-bin through
# apt-get when rsvg-convert is missing (root, Debian/Ubuntu); elsewhere install it by hand
# (macOS: brew install librsvg).
#
#   scripts/render-charts.sh DIR [ZOOM]      ZOOM: 1 (default) or 2 for a sharper PNG
#
# The demo charts: LOCO_CHART_DEMO=/tmp/charts swift test --filter ChartTests.writeDemoCharts,
# then scripts/render-charts.sh /tmp/charts.
set -euo pipefail
dir="${1:?usage: scripts/render-charts.sh DIR [ZOOM]}"
zoom="${2:-1}"
[ -d "$dir" ] || { echo "no folder $dir" >&2; exit 1; }

if ! command -v rsvg-convert >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing librsvg2-bin (rsvg-convert)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q librsvg2-bin >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q librsvg2-bin >&2; }
    else
        echo "rsvg-convert is missing: install librsvg (apt-get install librsvg2-bin, brew install librsvg)" >&2
        exit 1
    fi
fi

shopt -s nullglob
count=0
for svg in "$dir"/*.svg; do
    png="${svg%.svg}.png"
    rsvg-convert --zoom "$zoom" --background-color white -o "$png" "$svg"
    echo "$png"
    count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "no SVG files in $dir" >&2; exit 1; }
