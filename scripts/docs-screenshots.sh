#!/usr/bin/env bash
# Renders the docs site's main pages to PNG in Debian's headless Chromium, for a reviewer to look at (not run
# in CI). Builds the site first (mkdocs build --strict); installs chromium with apt-get if it is missing.
#   bash scripts/docs-screenshots.sh [OUT_DIR]      (default: build/docs-screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/docs-screenshots}
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT

if ! command -v chromium >/dev/null; then
    apt-get update -q && apt-get install -y -q chromium
fi

NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet --site-dir "$site"
mkdir -p "$out"
out=$(realpath "$out")
pages=(index informers rotation rbac testing config troubleshooting leader-election reference)
for page in "${pages[@]}"; do
    if [ "$page" = index ]; then file="$site/index.html"; else file="$site/$page/index.html"; fi
    # No network needed or used: the pages load nothing from other hosts (tests/test_docs_site.py).
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2000 \
        --screenshot="$out/$page.png" "file://$file" 2>/dev/null
    test -s "$out/$page.png" || { echo "no screenshot of $page" >&2; exit 1; }
    echo "$out/$page.png"
done
