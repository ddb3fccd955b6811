// plotly.js with the trace types the report draws (scatter is in the core). Keep in step with
// BUNDLED_TRACES in src/shopseg/report/_build.py; rebuild with ./build.sh.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/histogram'),
    require('plotly.js/lib/funnel'),
    require('plotly.js/lib/sankey'),
    require('plotly.js/lib/choropleth'),
    require('plotly.js/lib/scattergeo'),
]);

module.exports = Plotly;
