#!/bin/sh
# Rebuild src/shopseg/report/static/plotly-shopseg.min.js: plotly.js (the version the Python plotly package
# bundles: `python -c "import plotly.offline as o; print(o.get_plotlyjs_version())"`) with only the report's trace
# types, about 1.6 MB instead of plotly.min.js's 4.8 MB. Needs node and npm (the npm registry); not needed to use
# shopseg, only to change the bundle.
set -e
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
out=../../src/shopseg/report/static/plotly-shopseg.min.js
traces=$(grep -o "lib/[a-z0-9]*'" entry.js | grep -v core | sed "s/lib\///; s/'//" | tr '\n' ' ')
node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --global-name=Plotly --legal-comments=none --define:global=window \
  --banner:js="/*! plotly.js $(node -p "require('plotly.js/package.json').version") (MIT licence, Plotly Technologies Inc.; see plotly.js-LICENSE.txt), trace types: scatter ${traces}built by scripts/plotly-bundle/build.sh */" \
  --outfile="$out"
rm -f "${out%.js}.css"  # maplibre's stylesheet, pulled in by an import; the report draws no map tiles
cp node_modules/plotly.js/LICENSE ../../src/shopseg/report/static/plotly.js-LICENSE.txt
wc -c "$out"
