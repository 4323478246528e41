#!/bin/sh
# Real-browser tests of the dashboard's first-hour fixes (issue 13):
# test_dashboard_firsthour.mjs, run by test_dashboard.sh (same tools, same
# playwright-core install).
here=$(cd "$(dirname "$0")" && pwd)
S2S_DASHBOARD_TEST=test_dashboard_firsthour.mjs exec sh "$here/test_dashboard.sh"
