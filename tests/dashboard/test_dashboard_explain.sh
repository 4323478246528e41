#!/bin/sh
# Real-browser tests of the dashboard's issue-14 additions (decoding options,
# alternatives, seeds, explain mode): test_dashboard_explain.mjs, run by
# test_dashboard.sh (same tools, same playwright-core install).
here=$(cd "$(dirname "$0")" && pwd)
S2S_DASHBOARD_TEST=test_dashboard_explain.mjs exec sh "$here/test_dashboard.sh"
